import datetime

from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TYPE_UNSPECIFIED: _ClassVar[PriceType]
    PRICE_TYPE_METERED: _ClassVar[PriceType]
    PRICE_TYPE_LICENSED: _ClassVar[PriceType]

class RecurringInterval(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECURRING_INTERVAL_UNSPECIFIED: _ClassVar[RecurringInterval]
    RECURRING_INTERVAL_DAY: _ClassVar[RecurringInterval]
    RECURRING_INTERVAL_WEEK: _ClassVar[RecurringInterval]
    RECURRING_INTERVAL_MONTH: _ClassVar[RecurringInterval]
    RECURRING_INTERVAL_YEAR: _ClassVar[RecurringInterval]

class BillingScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLING_SCHEME_UNSPECIFIED: _ClassVar[BillingScheme]
    BILLING_SCHEME_PER_UNIT: _ClassVar[BillingScheme]
    BILLING_SCHEME_TIERED: _ClassVar[BillingScheme]

class TiersMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIERS_MODE_UNSPECIFIED: _ClassVar[TiersMode]
    TIERS_MODE_GRADUATED: _ClassVar[TiersMode]
    TIERS_MODE_VOLUME: _ClassVar[TiersMode]

class TransformQuantityRound(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFORM_QUANTITY_ROUND_UNSPECIFIED: _ClassVar[TransformQuantityRound]
    TRANSFORM_QUANTITY_ROUND_UP: _ClassVar[TransformQuantityRound]
    TRANSFORM_QUANTITY_ROUND_DOWN: _ClassVar[TransformQuantityRound]
PRICE_TYPE_UNSPECIFIED: PriceType
PRICE_TYPE_METERED: PriceType
PRICE_TYPE_LICENSED: PriceType
RECURRING_INTERVAL_UNSPECIFIED: RecurringInterval
RECURRING_INTERVAL_DAY: RecurringInterval
RECURRING_INTERVAL_WEEK: RecurringInterval
RECURRING_INTERVAL_MONTH: RecurringInterval
RECURRING_INTERVAL_YEAR: RecurringInterval
BILLING_SCHEME_UNSPECIFIED: BillingScheme
BILLING_SCHEME_PER_UNIT: BillingScheme
BILLING_SCHEME_TIERED: BillingScheme
TIERS_MODE_UNSPECIFIED: TiersMode
TIERS_MODE_GRADUATED: TiersMode
TIERS_MODE_VOLUME: TiersMode
TRANSFORM_QUANTITY_ROUND_UNSPECIFIED: TransformQuantityRound
TRANSFORM_QUANTITY_ROUND_UP: TransformQuantityRound
TRANSFORM_QUANTITY_ROUND_DOWN: TransformQuantityRound

class Price(_message.Message):
    __slots__ = ("id", "product_id", "currency", "active", "nickname", "metadata", "type", "recurring", "meter_id", "billing_scheme", "unit_amount_decimal", "tiers_mode", "tiers", "transform_quantity", "create_time", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RECURRING_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_SCHEME_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_DECIMAL_FIELD_NUMBER: _ClassVar[int]
    TIERS_MODE_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    product_id: str
    currency: str
    active: bool
    nickname: str
    metadata: _containers.ScalarMap[str, str]
    type: PriceType
    recurring: Recurring
    meter_id: str
    billing_scheme: BillingScheme
    unit_amount_decimal: _decimal_pb2.Decimal
    tiers_mode: TiersMode
    tiers: _containers.RepeatedCompositeFieldContainer[PriceTier]
    transform_quantity: TransformQuantity
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., product_id: _Optional[str] = ..., currency: _Optional[str] = ..., active: _Optional[bool] = ..., nickname: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., type: _Optional[_Union[PriceType, str]] = ..., recurring: _Optional[_Union[Recurring, _Mapping]] = ..., meter_id: _Optional[str] = ..., billing_scheme: _Optional[_Union[BillingScheme, str]] = ..., unit_amount_decimal: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tiers_mode: _Optional[_Union[TiersMode, str]] = ..., tiers: _Optional[_Iterable[_Union[PriceTier, _Mapping]]] = ..., transform_quantity: _Optional[_Union[TransformQuantity, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Recurring(_message.Message):
    __slots__ = ("interval", "interval_count")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    interval: RecurringInterval
    interval_count: int
    def __init__(self, interval: _Optional[_Union[RecurringInterval, str]] = ..., interval_count: _Optional[int] = ...) -> None: ...

class PriceTier(_message.Message):
    __slots__ = ("up_to", "unit_amount_decimal", "flat_amount_decimal")
    UP_TO_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_DECIMAL_FIELD_NUMBER: _ClassVar[int]
    FLAT_AMOUNT_DECIMAL_FIELD_NUMBER: _ClassVar[int]
    up_to: int
    unit_amount_decimal: _decimal_pb2.Decimal
    flat_amount_decimal: _decimal_pb2.Decimal
    def __init__(self, up_to: _Optional[int] = ..., unit_amount_decimal: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., flat_amount_decimal: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class TransformQuantity(_message.Message):
    __slots__ = ("divide_by", "round")
    DIVIDE_BY_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    divide_by: int
    round: TransformQuantityRound
    def __init__(self, divide_by: _Optional[int] = ..., round: _Optional[_Union[TransformQuantityRound, str]] = ...) -> None: ...
