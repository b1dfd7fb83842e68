import datetime

from drawdown.invoicing.v1 import billing_error_pb2 as _billing_error_pb2
from drawdown.invoicing.v1 import price_pb2 as _price_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscriptionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_STATUS_UNSPECIFIED: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_ACTIVE: _ClassVar[SubscriptionStatus]
    SUBSCRIPTION_STATUS_CANCELED: _ClassVar[SubscriptionStatus]
SUBSCRIPTION_STATUS_UNSPECIFIED: SubscriptionStatus
SUBSCRIPTION_STATUS_ACTIVE: SubscriptionStatus
SUBSCRIPTION_STATUS_CANCELED: SubscriptionStatus

class Subscription(_message.Message):
    __slots__ = ("id", "customer_id", "items", "currency", "recurring", "billing_cycle_anchor", "current_period_start", "current_period_end", "status", "cancel_at_period_end", "cancel_time", "invoice_settings", "latest_invoice_id", "create_time", "update_time", "billing_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    RECURRING_FIELD_NUMBER: _ClassVar[int]
    BILLING_CYCLE_ANCHOR_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    INVOICE_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    LATEST_INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BILLING_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    items: _containers.RepeatedCompositeFieldContainer[SubscriptionItem]
    currency: str
    recurring: _price_pb2.Recurring
    billing_cycle_anchor: _timestamp_pb2.Timestamp
    current_period_start: _timestamp_pb2.Timestamp
    current_period_end: _timestamp_pb2.Timestamp
    status: SubscriptionStatus
    cancel_at_period_end: bool
    cancel_time: _timestamp_pb2.Timestamp
    invoice_settings: SubscriptionInvoiceSettings
    latest_invoice_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    billing_error: _billing_error_pb2.BillingError
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[SubscriptionItem, _Mapping]]] = ..., currency: _Optional[str] = ..., recurring: _Optional[_Union[_price_pb2.Recurring, _Mapping]] = ..., billing_cycle_anchor: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[SubscriptionStatus, str]] = ..., cancel_at_period_end: _Optional[bool] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., invoice_settings: _Optional[_Union[SubscriptionInvoiceSettings, _Mapping]] = ..., latest_invoice_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., billing_error: _Optional[_Union[_billing_error_pb2.BillingError, _Mapping]] = ...) -> None: ...

class SubscriptionItem(_message.Message):
    __slots__ = ("id", "price_id", "quantity")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    price_id: str
    quantity: int
    def __init__(self, id: _Optional[str] = ..., price_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class SubscriptionInvoiceSettings(_message.Message):
    __slots__ = ("grace_period",)
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    grace_period: _duration_pb2.Duration
    def __init__(self, grace_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
