import datetime

from drawdown.invoicing.v1 import test_clock_pb2 as _test_clock_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTestClockRequest(_message.Message):
    __slots__ = ("test_clock", "request_id")
    TEST_CLOCK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_clock: _test_clock_pb2.TestClock
    request_id: str
    def __init__(self, test_clock: _Optional[_Union[_test_clock_pb2.TestClock, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTestClockResponse(_message.Message):
    __slots__ = ("test_clock",)
    TEST_CLOCK_FIELD_NUMBER: _ClassVar[int]
    test_clock: _test_clock_pb2.TestClock
    def __init__(self, test_clock: _Optional[_Union[_test_clock_pb2.TestClock, _Mapping]] = ...) -> None: ...

class GetTestClockRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetTestClockResponse(_message.Message):
    __slots__ = ("test_clock",)
    TEST_CLOCK_FIELD_NUMBER: _ClassVar[int]
    test_clock: _test_clock_pb2.TestClock
    def __init__(self, test_clock: _Optional[_Union[_test_clock_pb2.TestClock, _Mapping]] = ...) -> None: ...

class ListTestClocksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTestClocksResponse(_message.Message):
    __slots__ = ("test_clocks", "next_page_token")
    TEST_CLOCKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    test_clocks: _containers.RepeatedCompositeFieldContainer[_test_clock_pb2.TestClock]
    next_page_token: str
    def __init__(self, test_clocks: _Optional[_Iterable[_Union[_test_clock_pb2.TestClock, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AdvanceTestClockRequest(_message.Message):
    __slots__ = ("id", "frozen_time", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    FROZEN_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    frozen_time: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, id: _Optional[str] = ..., frozen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AdvanceTestClockResponse(_message.Message):
    __slots__ = ("test_clock",)
    TEST_CLOCK_FIELD_NUMBER: _ClassVar[int]
    test_clock: _test_clock_pb2.TestClock
    def __init__(self, test_clock: _Optional[_Union[_test_clock_pb2.TestClock, _Mapping]] = ...) -> None: ...

class DeleteTestClockRequest(_message.Message):
    __slots__ = ("id", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteTestClockResponse(_message.Message):
    __slots__ = ("test_clock",)
    TEST_CLOCK_FIELD_NUMBER: _ClassVar[int]
    test_clock: _test_clock_pb2.TestClock
    def __init__(self, test_clock: _Optional[_Union[_test_clock_pb2.TestClock, _Mapping]] = ...) -> None: ...
