import datetime

from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AggregationFormula(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_FORMULA_UNSPECIFIED: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_SUM: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_COUNT: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_LAST: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_MAX: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_MIN: _ClassVar[AggregationFormula]
    AGGREGATION_FORMULA_UNIQUE_COUNT: _ClassVar[AggregationFormula]

class EventTimeWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TIME_WINDOW_UNSPECIFIED: _ClassVar[EventTimeWindow]
    EVENT_TIME_WINDOW_HOUR: _ClassVar[EventTimeWindow]
    EVENT_TIME_WINDOW_DAY: _ClassVar[EventTimeWindow]

class MeterStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METER_STATUS_UNSPECIFIED: _ClassVar[MeterStatus]
    METER_STATUS_ACTIVE: _ClassVar[MeterStatus]
    METER_STATUS_INACTIVE: _ClassVar[MeterStatus]
AGGREGATION_FORMULA_UNSPECIFIED: AggregationFormula
AGGREGATION_FORMULA_SUM: AggregationFormula
AGGREGATION_FORMULA_COUNT: AggregationFormula
AGGREGATION_FORMULA_LAST: AggregationFormula
AGGREGATION_FORMULA_MAX: AggregationFormula
AGGREGATION_FORMULA_MIN: AggregationFormula
AGGREGATION_FORMULA_UNIQUE_COUNT: AggregationFormula
EVENT_TIME_WINDOW_UNSPECIFIED: EventTimeWindow
EVENT_TIME_WINDOW_HOUR: EventTimeWindow
EVENT_TIME_WINDOW_DAY: EventTimeWindow
METER_STATUS_UNSPECIFIED: MeterStatus
METER_STATUS_ACTIVE: MeterStatus
METER_STATUS_INACTIVE: MeterStatus

class Meter(_message.Message):
    __slots__ = ("id", "display_name", "event_name", "aggregation_formula", "customer_mapping", "value_settings", "dimension_keys", "event_time_window", "status", "create_time", "update_time", "deactivate_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FORMULA_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_MAPPING_FIELD_NUMBER: _ClassVar[int]
    VALUE_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_KEYS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_WINDOW_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    event_name: str
    aggregation_formula: AggregationFormula
    customer_mapping: CustomerMapping
    value_settings: ValueSettings
    dimension_keys: _containers.RepeatedScalarFieldContainer[str]
    event_time_window: EventTimeWindow
    status: MeterStatus
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    deactivate_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., event_name: _Optional[str] = ..., aggregation_formula: _Optional[_Union[AggregationFormula, str]] = ..., customer_mapping: _Optional[_Union[CustomerMapping, _Mapping]] = ..., value_settings: _Optional[_Union[ValueSettings, _Mapping]] = ..., dimension_keys: _Optional[_Iterable[str]] = ..., event_time_window: _Optional[_Union[EventTimeWindow, str]] = ..., status: _Optional[_Union[MeterStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deactivate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerMapping(_message.Message):
    __slots__ = ("event_payload_key",)
    EVENT_PAYLOAD_KEY_FIELD_NUMBER: _ClassVar[int]
    event_payload_key: str
    def __init__(self, event_payload_key: _Optional[str] = ...) -> None: ...

class ValueSettings(_message.Message):
    __slots__ = ("event_payload_key",)
    EVENT_PAYLOAD_KEY_FIELD_NUMBER: _ClassVar[int]
    event_payload_key: str
    def __init__(self, event_payload_key: _Optional[str] = ...) -> None: ...
