from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Permission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_UNSPECIFIED: _ClassVar[Permission]
    PERMISSION_READ: _ClassVar[Permission]
    PERMISSION_INGEST: _ClassVar[Permission]
    PERMISSION_WRITE: _ClassVar[Permission]
    PERMISSION_SERVICE: _ClassVar[Permission]
PERMISSION_UNSPECIFIED: Permission
PERMISSION_READ: Permission
PERMISSION_INGEST: Permission
PERMISSION_WRITE: Permission
PERMISSION_SERVICE: Permission
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("permission", "alternatives")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    permission: Permission
    alternatives: _containers.RepeatedScalarFieldContainer[Permission]
    def __init__(self, permission: _Optional[_Union[Permission, str]] = ..., alternatives: _Optional[_Iterable[_Union[Permission, str]]] = ...) -> None: ...
