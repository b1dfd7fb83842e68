from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
STRING_LIMIT_FIELD_NUMBER: _ClassVar[int]
string_limit: _descriptor.FieldDescriptor
STRINGS_CHECKED_PER_ENTRY_FIELD_NUMBER: _ClassVar[int]
strings_checked_per_entry: _descriptor.FieldDescriptor
MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
max_request_bytes: _descriptor.FieldDescriptor

class StringLimit(_message.Message):
    __slots__ = ("max_length", "max_key_length", "reason")
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_KEY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    max_length: int
    max_key_length: int
    reason: str
    def __init__(self, max_length: _Optional[int] = ..., max_key_length: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...
