import datetime

from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeterEventResultStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METER_EVENT_RESULT_STATUS_UNSPECIFIED: _ClassVar[MeterEventResultStatus]
    METER_EVENT_RESULT_STATUS_ACCEPTED: _ClassVar[MeterEventResultStatus]
    METER_EVENT_RESULT_STATUS_DUPLICATE: _ClassVar[MeterEventResultStatus]
    METER_EVENT_RESULT_STATUS_REJECTED: _ClassVar[MeterEventResultStatus]

class ValueGroupingWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_GROUPING_WINDOW_UNSPECIFIED: _ClassVar[ValueGroupingWindow]
    VALUE_GROUPING_WINDOW_HOUR: _ClassVar[ValueGroupingWindow]
    VALUE_GROUPING_WINDOW_DAY: _ClassVar[ValueGroupingWindow]
METER_EVENT_RESULT_STATUS_UNSPECIFIED: MeterEventResultStatus
METER_EVENT_RESULT_STATUS_ACCEPTED: MeterEventResultStatus
METER_EVENT_RESULT_STATUS_DUPLICATE: MeterEventResultStatus
METER_EVENT_RESULT_STATUS_REJECTED: MeterEventResultStatus
VALUE_GROUPING_WINDOW_UNSPECIFIED: ValueGroupingWindow
VALUE_GROUPING_WINDOW_HOUR: ValueGroupingWindow
VALUE_GROUPING_WINDOW_DAY: ValueGroupingWindow

class MeterEvent(_message.Message):
    __slots__ = ("event_name", "payload", "identifier", "timestamp", "meter_id", "create_time", "cancel_time")
    class PayloadEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    event_name: str
    payload: _containers.ScalarMap[str, str]
    identifier: str
    timestamp: _timestamp_pb2.Timestamp
    meter_id: str
    create_time: _timestamp_pb2.Timestamp
    cancel_time: _timestamp_pb2.Timestamp
    def __init__(self, event_name: _Optional[str] = ..., payload: _Optional[_Mapping[str, str]] = ..., identifier: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., meter_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MeterEventResult(_message.Message):
    __slots__ = ("index", "identifier", "status", "reason", "message", "field", "timestamp", "create_time")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    index: int
    identifier: str
    status: MeterEventResultStatus
    reason: str
    message: str
    field: str
    timestamp: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, index: _Optional[int] = ..., identifier: _Optional[str] = ..., status: _Optional[_Union[MeterEventResultStatus, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MeterEventSummary(_message.Message):
    __slots__ = ("meter_id", "customer_id", "start_time", "end_time", "aggregated_value", "dimensions", "event_count")
    class DimensionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATED_VALUE_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    customer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    aggregated_value: _decimal_pb2.Decimal
    dimensions: _containers.ScalarMap[str, str]
    event_count: int
    def __init__(self, meter_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., aggregated_value: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., dimensions: _Optional[_Mapping[str, str]] = ..., event_count: _Optional[int] = ...) -> None: ...
