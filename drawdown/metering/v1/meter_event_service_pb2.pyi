import datetime

from drawdown.metering.v1 import meter_event_pb2 as _meter_event_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateMeterEventRequest(_message.Message):
    __slots__ = ("meter_event",)
    METER_EVENT_FIELD_NUMBER: _ClassVar[int]
    meter_event: _meter_event_pb2.MeterEvent
    def __init__(self, meter_event: _Optional[_Union[_meter_event_pb2.MeterEvent, _Mapping]] = ...) -> None: ...

class CreateMeterEventResponse(_message.Message):
    __slots__ = ("meter_event", "duplicate")
    METER_EVENT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    meter_event: _meter_event_pb2.MeterEvent
    duplicate: bool
    def __init__(self, meter_event: _Optional[_Union[_meter_event_pb2.MeterEvent, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class BatchCreateMeterEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_meter_event_pb2.MeterEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_meter_event_pb2.MeterEvent, _Mapping]]] = ...) -> None: ...

class BatchCreateMeterEventsResponse(_message.Message):
    __slots__ = ("results", "accepted_count", "duplicate_count", "rejected_count")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_meter_event_pb2.MeterEventResult]
    accepted_count: int
    duplicate_count: int
    rejected_count: int
    def __init__(self, results: _Optional[_Iterable[_Union[_meter_event_pb2.MeterEventResult, _Mapping]]] = ..., accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_count: _Optional[int] = ...) -> None: ...

class StreamMeterEventsRequest(_message.Message):
    __slots__ = ("sequence", "events")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    events: _containers.RepeatedCompositeFieldContainer[_meter_event_pb2.MeterEvent]
    def __init__(self, sequence: _Optional[int] = ..., events: _Optional[_Iterable[_Union[_meter_event_pb2.MeterEvent, _Mapping]]] = ...) -> None: ...

class StreamMeterEventsResponse(_message.Message):
    __slots__ = ("sequence", "accepted_count", "duplicate_count", "rejected_count", "results")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    accepted_count: int
    duplicate_count: int
    rejected_count: int
    results: _containers.RepeatedCompositeFieldContainer[_meter_event_pb2.MeterEventResult]
    def __init__(self, sequence: _Optional[int] = ..., accepted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., results: _Optional[_Iterable[_Union[_meter_event_pb2.MeterEventResult, _Mapping]]] = ...) -> None: ...

class CancelMeterEventRequest(_message.Message):
    __slots__ = ("event_name", "identifier", "request_id")
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event_name: str
    identifier: str
    request_id: str
    def __init__(self, event_name: _Optional[str] = ..., identifier: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelMeterEventResponse(_message.Message):
    __slots__ = ("meter_event",)
    METER_EVENT_FIELD_NUMBER: _ClassVar[int]
    meter_event: _meter_event_pb2.MeterEvent
    def __init__(self, meter_event: _Optional[_Union[_meter_event_pb2.MeterEvent, _Mapping]] = ...) -> None: ...

class ListMeterEventSummariesRequest(_message.Message):
    __slots__ = ("meter_id", "customer_id", "start_time", "end_time", "value_grouping_window", "group_by", "page_size", "page_token")
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_GROUPING_WINDOW_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    customer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    value_grouping_window: _meter_event_pb2.ValueGroupingWindow
    group_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, meter_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value_grouping_window: _Optional[_Union[_meter_event_pb2.ValueGroupingWindow, str]] = ..., group_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeterEventSummariesResponse(_message.Message):
    __slots__ = ("meter_event_summaries", "next_page_token")
    METER_EVENT_SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meter_event_summaries: _containers.RepeatedCompositeFieldContainer[_meter_event_pb2.MeterEventSummary]
    next_page_token: str
    def __init__(self, meter_event_summaries: _Optional[_Iterable[_Union[_meter_event_pb2.MeterEventSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class BatchListMeterEventSummariesRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ListMeterEventSummariesRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ListMeterEventSummariesRequest, _Mapping]]] = ...) -> None: ...

class BatchListMeterEventSummariesResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ListMeterEventSummariesResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ListMeterEventSummariesResponse, _Mapping]]] = ...) -> None: ...
