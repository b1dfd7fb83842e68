import datetime

from drawdown.credits.v1 import credit_grant_pb2 as _credit_grant_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateCreditGrantRequest(_message.Message):
    __slots__ = ("credit_grant", "request_id")
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    request_id: str
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCreditGrantResponse(_message.Message):
    __slots__ = ("credit_grant",)
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ...) -> None: ...

class GetCreditGrantRequest(_message.Message):
    __slots__ = ("id", "as_of")
    ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    id: str
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCreditGrantResponse(_message.Message):
    __slots__ = ("credit_grant",)
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ...) -> None: ...

class ListCreditGrantsRequest(_message.Message):
    __slots__ = ("customer_id", "status", "as_of", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    status: _credit_grant_pb2.CreditGrantStatus
    as_of: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., status: _Optional[_Union[_credit_grant_pb2.CreditGrantStatus, str]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCreditGrantsResponse(_message.Message):
    __slots__ = ("credit_grants", "next_page_token")
    CREDIT_GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credit_grants: _containers.RepeatedCompositeFieldContainer[_credit_grant_pb2.CreditGrant]
    next_page_token: str
    def __init__(self, credit_grants: _Optional[_Iterable[_Union[_credit_grant_pb2.CreditGrant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCreditGrantRequest(_message.Message):
    __slots__ = ("credit_grant", "update_mask", "request_id")
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateCreditGrantResponse(_message.Message):
    __slots__ = ("credit_grant",)
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ...) -> None: ...

class ExpireCreditGrantRequest(_message.Message):
    __slots__ = ("id", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ExpireCreditGrantResponse(_message.Message):
    __slots__ = ("credit_grant",)
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ...) -> None: ...

class VoidCreditGrantRequest(_message.Message):
    __slots__ = ("id", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class VoidCreditGrantResponse(_message.Message):
    __slots__ = ("credit_grant",)
    CREDIT_GRANT_FIELD_NUMBER: _ClassVar[int]
    credit_grant: _credit_grant_pb2.CreditGrant
    def __init__(self, credit_grant: _Optional[_Union[_credit_grant_pb2.CreditGrant, _Mapping]] = ...) -> None: ...
