import datetime

from drawdown.invoicing.v1 import usage_authorization_pb2 as _usage_authorization_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthorizeUsageRequest(_message.Message):
    __slots__ = ("customer_id", "price_id", "meter_id", "quantity", "amount", "ttl", "request_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    price_id: str
    meter_id: str
    quantity: _decimal_pb2.Decimal
    amount: _money_pb2.Money
    ttl: _duration_pb2.Duration
    request_id: str
    def __init__(self, customer_id: _Optional[str] = ..., price_id: _Optional[str] = ..., meter_id: _Optional[str] = ..., quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AuthorizeUsageResponse(_message.Message):
    __slots__ = ("usage_authorization",)
    USAGE_AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    usage_authorization: _usage_authorization_pb2.UsageAuthorization
    def __init__(self, usage_authorization: _Optional[_Union[_usage_authorization_pb2.UsageAuthorization, _Mapping]] = ...) -> None: ...

class CaptureUsageAuthorizationRequest(_message.Message):
    __slots__ = ("usage_authorization_id", "quantity")
    USAGE_AUTHORIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    usage_authorization_id: str
    quantity: _decimal_pb2.Decimal
    def __init__(self, usage_authorization_id: _Optional[str] = ..., quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class CaptureUsageAuthorizationResponse(_message.Message):
    __slots__ = ("usage_authorization",)
    USAGE_AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    usage_authorization: _usage_authorization_pb2.UsageAuthorization
    def __init__(self, usage_authorization: _Optional[_Union[_usage_authorization_pb2.UsageAuthorization, _Mapping]] = ...) -> None: ...

class ReleaseUsageAuthorizationRequest(_message.Message):
    __slots__ = ("usage_authorization_id",)
    USAGE_AUTHORIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    usage_authorization_id: str
    def __init__(self, usage_authorization_id: _Optional[str] = ...) -> None: ...

class ReleaseUsageAuthorizationResponse(_message.Message):
    __slots__ = ("usage_authorization",)
    USAGE_AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    usage_authorization: _usage_authorization_pb2.UsageAuthorization
    def __init__(self, usage_authorization: _Optional[_Union[_usage_authorization_pb2.UsageAuthorization, _Mapping]] = ...) -> None: ...

class GetUsageAuthorizationRequest(_message.Message):
    __slots__ = ("usage_authorization_id",)
    USAGE_AUTHORIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    usage_authorization_id: str
    def __init__(self, usage_authorization_id: _Optional[str] = ...) -> None: ...

class GetUsageAuthorizationResponse(_message.Message):
    __slots__ = ("usage_authorization",)
    USAGE_AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    usage_authorization: _usage_authorization_pb2.UsageAuthorization
    def __init__(self, usage_authorization: _Optional[_Union[_usage_authorization_pb2.UsageAuthorization, _Mapping]] = ...) -> None: ...

class ListUsageAuthorizationsRequest(_message.Message):
    __slots__ = ("customer_id", "status", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    status: _usage_authorization_pb2.UsageAuthorizationStatus
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., status: _Optional[_Union[_usage_authorization_pb2.UsageAuthorizationStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsageAuthorizationsResponse(_message.Message):
    __slots__ = ("usage_authorizations", "next_page_token")
    USAGE_AUTHORIZATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    usage_authorizations: _containers.RepeatedCompositeFieldContainer[_usage_authorization_pb2.UsageAuthorization]
    next_page_token: str
    def __init__(self, usage_authorizations: _Optional[_Iterable[_Union[_usage_authorization_pb2.UsageAuthorization, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
