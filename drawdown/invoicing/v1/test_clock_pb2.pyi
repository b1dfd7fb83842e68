import datetime

from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TestClockStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_CLOCK_STATUS_UNSPECIFIED: _ClassVar[TestClockStatus]
    TEST_CLOCK_STATUS_READY: _ClassVar[TestClockStatus]
    TEST_CLOCK_STATUS_ADVANCING: _ClassVar[TestClockStatus]
    TEST_CLOCK_STATUS_INTERNAL_FAILURE: _ClassVar[TestClockStatus]
TEST_CLOCK_STATUS_UNSPECIFIED: TestClockStatus
TEST_CLOCK_STATUS_READY: TestClockStatus
TEST_CLOCK_STATUS_ADVANCING: TestClockStatus
TEST_CLOCK_STATUS_INTERNAL_FAILURE: TestClockStatus

class TestClock(_message.Message):
    __slots__ = ("id", "name", "frozen_time", "status", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROZEN_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    frozen_time: _timestamp_pb2.Timestamp
    status: TestClockStatus
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., frozen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[TestClockStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
