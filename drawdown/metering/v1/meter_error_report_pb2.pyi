from drawdown.type.v1 import interval_pb2 as _interval_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeterErrorReport(_message.Message):
    __slots__ = ("meter_id", "event_name", "window", "reasons")
    class ReasonCount(_message.Message):
        __slots__ = ("reason", "count", "sample_identifiers")
        REASON_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        SAMPLE_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
        reason: str
        count: int
        sample_identifiers: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ..., sample_identifiers: _Optional[_Iterable[str]] = ...) -> None: ...
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    event_name: str
    window: _interval_pb2.TimeRange
    reasons: _containers.RepeatedCompositeFieldContainer[MeterErrorReport.ReasonCount]
    def __init__(self, meter_id: _Optional[str] = ..., event_name: _Optional[str] = ..., window: _Optional[_Union[_interval_pb2.TimeRange, _Mapping]] = ..., reasons: _Optional[_Iterable[_Union[MeterErrorReport.ReasonCount, _Mapping]]] = ...) -> None: ...
