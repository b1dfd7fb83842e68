import datetime

from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetTestClockTimeRequest(_message.Message):
    __slots__ = ("test_clock_id", "frozen_time", "customer_ids", "request_id")
    TEST_CLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    FROZEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_clock_id: str
    frozen_time: _timestamp_pb2.Timestamp
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, test_clock_id: _Optional[str] = ..., frozen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetTestClockTimeResponse(_message.Message):
    __slots__ = ("frozen_time",)
    FROZEN_TIME_FIELD_NUMBER: _ClassVar[int]
    frozen_time: _timestamp_pb2.Timestamp
    def __init__(self, frozen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteTestClockTimeRequest(_message.Message):
    __slots__ = ("test_clock_id", "request_id")
    TEST_CLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_clock_id: str
    request_id: str
    def __init__(self, test_clock_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteTestClockTimeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
