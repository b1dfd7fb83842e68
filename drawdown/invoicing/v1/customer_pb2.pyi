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

class AutoTopUpCollection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTO_TOP_UP_COLLECTION_UNSPECIFIED: _ClassVar[AutoTopUpCollection]
    AUTO_TOP_UP_COLLECTION_PAID: _ClassVar[AutoTopUpCollection]
    AUTO_TOP_UP_COLLECTION_OPEN: _ClassVar[AutoTopUpCollection]
AUTO_TOP_UP_COLLECTION_UNSPECIFIED: AutoTopUpCollection
AUTO_TOP_UP_COLLECTION_PAID: AutoTopUpCollection
AUTO_TOP_UP_COLLECTION_OPEN: AutoTopUpCollection

class Customer(_message.Message):
    __slots__ = ("id", "name", "email", "metadata", "test_clock_id", "invoice_settings", "create_time", "update_time", "credit_settings")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEST_CLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREDIT_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    metadata: _containers.ScalarMap[str, str]
    test_clock_id: str
    invoice_settings: CustomerInvoiceSettings
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    credit_settings: CustomerCreditSettings
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., test_clock_id: _Optional[str] = ..., invoice_settings: _Optional[_Union[CustomerInvoiceSettings, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credit_settings: _Optional[_Union[CustomerCreditSettings, _Mapping]] = ...) -> None: ...

class CustomerCreditSettings(_message.Message):
    __slots__ = ("overdraft_allowances", "auto_top_ups", "balance_alerts")
    OVERDRAFT_ALLOWANCES_FIELD_NUMBER: _ClassVar[int]
    AUTO_TOP_UPS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_ALERTS_FIELD_NUMBER: _ClassVar[int]
    overdraft_allowances: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    auto_top_ups: _containers.RepeatedCompositeFieldContainer[AutoTopUp]
    balance_alerts: _containers.RepeatedCompositeFieldContainer[BalanceAlert]
    def __init__(self, overdraft_allowances: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., auto_top_ups: _Optional[_Iterable[_Union[AutoTopUp, _Mapping]]] = ..., balance_alerts: _Optional[_Iterable[_Union[BalanceAlert, _Mapping]]] = ...) -> None: ...

class AutoTopUp(_message.Message):
    __slots__ = ("threshold", "amount", "recharge_to", "monthly_cap", "collection")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RECHARGE_TO_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_CAP_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    threshold: _money_pb2.Money
    amount: _money_pb2.Money
    recharge_to: _money_pb2.Money
    monthly_cap: _money_pb2.Money
    collection: AutoTopUpCollection
    def __init__(self, threshold: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., recharge_to: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., monthly_cap: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., collection: _Optional[_Union[AutoTopUpCollection, str]] = ...) -> None: ...

class BalanceAlert(_message.Message):
    __slots__ = ("currency", "amount", "percent_of_granted")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OF_GRANTED_FIELD_NUMBER: _ClassVar[int]
    currency: str
    amount: _money_pb2.Money
    percent_of_granted: _decimal_pb2.Decimal
    def __init__(self, currency: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., percent_of_granted: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class CreditBalanceThresholdCrossed(_message.Message):
    __slots__ = ("customer_id", "balance_alert", "threshold", "spendable_balance", "granted", "as_of_time")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_ALERT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SPENDABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    balance_alert: BalanceAlert
    threshold: _money_pb2.Money
    spendable_balance: _money_pb2.Money
    granted: _money_pb2.Money
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., balance_alert: _Optional[_Union[BalanceAlert, _Mapping]] = ..., threshold: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., spendable_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., granted: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerInvoiceSettings(_message.Message):
    __slots__ = ("grace_period",)
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    grace_period: _duration_pb2.Duration
    def __init__(self, grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CustomerLiveBalance(_message.Message):
    __slots__ = ("customer_id", "as_of_time", "balances")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    as_of_time: _timestamp_pb2.Timestamp
    balances: _containers.RepeatedCompositeFieldContainer[LiveBalance]
    def __init__(self, customer_id: _Optional[str] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[LiveBalance, _Mapping]]] = ...) -> None: ...

class LiveBalance(_message.Message):
    __slots__ = ("available_credits", "unbilled_usage", "live_balance", "reserved", "overdraft_allowance", "spendable_balance")
    AVAILABLE_CREDITS_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_USAGE_FIELD_NUMBER: _ClassVar[int]
    LIVE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    OVERDRAFT_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    SPENDABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    available_credits: _money_pb2.Money
    unbilled_usage: _money_pb2.Money
    live_balance: _money_pb2.Money
    reserved: _money_pb2.Money
    overdraft_allowance: _money_pb2.Money
    spendable_balance: _money_pb2.Money
    def __init__(self, available_credits: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., unbilled_usage: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., live_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reserved: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., overdraft_allowance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., spendable_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
