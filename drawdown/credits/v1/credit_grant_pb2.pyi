import datetime

from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreditGrantCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_GRANT_CATEGORY_UNSPECIFIED: _ClassVar[CreditGrantCategory]
    CREDIT_GRANT_CATEGORY_PAID: _ClassVar[CreditGrantCategory]
    CREDIT_GRANT_CATEGORY_PROMOTIONAL: _ClassVar[CreditGrantCategory]

class CreditGrantStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_GRANT_STATUS_UNSPECIFIED: _ClassVar[CreditGrantStatus]
    CREDIT_GRANT_STATUS_PENDING: _ClassVar[CreditGrantStatus]
    CREDIT_GRANT_STATUS_AVAILABLE: _ClassVar[CreditGrantStatus]
    CREDIT_GRANT_STATUS_DEPLETED: _ClassVar[CreditGrantStatus]
    CREDIT_GRANT_STATUS_EXPIRED: _ClassVar[CreditGrantStatus]
    CREDIT_GRANT_STATUS_VOIDED: _ClassVar[CreditGrantStatus]

class PriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TYPE_UNSPECIFIED: _ClassVar[PriceType]
    PRICE_TYPE_METERED: _ClassVar[PriceType]
CREDIT_GRANT_CATEGORY_UNSPECIFIED: CreditGrantCategory
CREDIT_GRANT_CATEGORY_PAID: CreditGrantCategory
CREDIT_GRANT_CATEGORY_PROMOTIONAL: CreditGrantCategory
CREDIT_GRANT_STATUS_UNSPECIFIED: CreditGrantStatus
CREDIT_GRANT_STATUS_PENDING: CreditGrantStatus
CREDIT_GRANT_STATUS_AVAILABLE: CreditGrantStatus
CREDIT_GRANT_STATUS_DEPLETED: CreditGrantStatus
CREDIT_GRANT_STATUS_EXPIRED: CreditGrantStatus
CREDIT_GRANT_STATUS_VOIDED: CreditGrantStatus
PRICE_TYPE_UNSPECIFIED: PriceType
PRICE_TYPE_METERED: PriceType

class CreditGrant(_message.Message):
    __slots__ = ("id", "customer_id", "amount", "name", "category", "priority", "applicability_config", "effective_time", "expire_time", "metadata", "void_time", "status", "available_balance", "ledger_balance", "create_time", "update_time", "rollover", "rolled_over_from_grant_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VOID_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROLLOVER_FIELD_NUMBER: _ClassVar[int]
    ROLLED_OVER_FROM_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    amount: _money_pb2.Money
    name: str
    category: CreditGrantCategory
    priority: int
    applicability_config: ApplicabilityConfig
    effective_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    void_time: _timestamp_pb2.Timestamp
    status: CreditGrantStatus
    available_balance: _money_pb2.Money
    ledger_balance: _money_pb2.Money
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    rollover: RolloverPolicy
    rolled_over_from_grant_id: str
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., name: _Optional[str] = ..., category: _Optional[_Union[CreditGrantCategory, str]] = ..., priority: _Optional[int] = ..., applicability_config: _Optional[_Union[ApplicabilityConfig, _Mapping]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., void_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[CreditGrantStatus, str]] = ..., available_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., ledger_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rollover: _Optional[_Union[RolloverPolicy, _Mapping]] = ..., rolled_over_from_grant_id: _Optional[str] = ...) -> None: ...

class RolloverPolicy(_message.Message):
    __slots__ = ("max_amount", "max_percent", "expire_after")
    MAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_PERCENT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AFTER_FIELD_NUMBER: _ClassVar[int]
    max_amount: _money_pb2.Money
    max_percent: _decimal_pb2.Decimal
    expire_after: _duration_pb2.Duration
    def __init__(self, max_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., max_percent: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., expire_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ApplicabilityConfig(_message.Message):
    __slots__ = ("price_type", "prices")
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    price_type: PriceType
    prices: ApplicabilityPrices
    def __init__(self, price_type: _Optional[_Union[PriceType, str]] = ..., prices: _Optional[_Union[ApplicabilityPrices, _Mapping]] = ...) -> None: ...

class ApplicabilityPrices(_message.Message):
    __slots__ = ("price_ids",)
    PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    price_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, price_ids: _Optional[_Iterable[str]] = ...) -> None: ...
