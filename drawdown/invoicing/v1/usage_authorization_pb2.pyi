import datetime

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

class UsageAuthorizationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_AUTHORIZATION_STATUS_UNSPECIFIED: _ClassVar[UsageAuthorizationStatus]
    USAGE_AUTHORIZATION_STATUS_AUTHORIZED: _ClassVar[UsageAuthorizationStatus]
    USAGE_AUTHORIZATION_STATUS_CAPTURED: _ClassVar[UsageAuthorizationStatus]
    USAGE_AUTHORIZATION_STATUS_RELEASED: _ClassVar[UsageAuthorizationStatus]
    USAGE_AUTHORIZATION_STATUS_EXPIRED: _ClassVar[UsageAuthorizationStatus]
USAGE_AUTHORIZATION_STATUS_UNSPECIFIED: UsageAuthorizationStatus
USAGE_AUTHORIZATION_STATUS_AUTHORIZED: UsageAuthorizationStatus
USAGE_AUTHORIZATION_STATUS_CAPTURED: UsageAuthorizationStatus
USAGE_AUTHORIZATION_STATUS_RELEASED: UsageAuthorizationStatus
USAGE_AUTHORIZATION_STATUS_EXPIRED: UsageAuthorizationStatus

class UsageAuthorization(_message.Message):
    __slots__ = ("id", "customer_id", "price_id", "meter_id", "status", "authorized_quantity", "authorized_amount", "drawn_from", "spendable_balance", "captured_quantity", "captured_amount", "overage_amount", "quantity_estimated", "create_time", "expire_time", "end_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DRAWN_FROM_FIELD_NUMBER: _ClassVar[int]
    SPENDABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    price_id: str
    meter_id: str
    status: UsageAuthorizationStatus
    authorized_quantity: _decimal_pb2.Decimal
    authorized_amount: _money_pb2.Money
    drawn_from: _containers.RepeatedCompositeFieldContainer[AuthorizationSource]
    spendable_balance: _money_pb2.Money
    captured_quantity: _decimal_pb2.Decimal
    captured_amount: _money_pb2.Money
    overage_amount: _money_pb2.Money
    quantity_estimated: bool
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., price_id: _Optional[str] = ..., meter_id: _Optional[str] = ..., status: _Optional[_Union[UsageAuthorizationStatus, str]] = ..., authorized_quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., authorized_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., drawn_from: _Optional[_Iterable[_Union[AuthorizationSource, _Mapping]]] = ..., spendable_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., captured_quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., captured_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., overage_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., quantity_estimated: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuthorizationSource(_message.Message):
    __slots__ = ("credit_grant_id", "amount")
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    credit_grant_id: str
    amount: _money_pb2.Money
    def __init__(self, credit_grant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
