from drawdown.metering.v1 import meter_pb2 as _meter_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateMeterRequest(_message.Message):
    __slots__ = ("meter", "request_id")
    METER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    request_id: str
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ...) -> None: ...

class GetMeterRequest(_message.Message):
    __slots__ = ("meter_id",)
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    def __init__(self, meter_id: _Optional[str] = ...) -> None: ...

class GetMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ...) -> None: ...

class ListMetersRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _meter_pb2.MeterStatus
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[_meter_pb2.MeterStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMetersResponse(_message.Message):
    __slots__ = ("meters", "next_page_token")
    METERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meters: _containers.RepeatedCompositeFieldContainer[_meter_pb2.Meter]
    next_page_token: str
    def __init__(self, meters: _Optional[_Iterable[_Union[_meter_pb2.Meter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMeterRequest(_message.Message):
    __slots__ = ("meter", "update_mask", "request_id")
    METER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ...) -> None: ...

class DeactivateMeterRequest(_message.Message):
    __slots__ = ("meter_id", "request_id")
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    request_id: str
    def __init__(self, meter_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeactivateMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ...) -> None: ...

class ReactivateMeterRequest(_message.Message):
    __slots__ = ("meter_id", "request_id")
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    meter_id: str
    request_id: str
    def __init__(self, meter_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReactivateMeterResponse(_message.Message):
    __slots__ = ("meter",)
    METER_FIELD_NUMBER: _ClassVar[int]
    meter: _meter_pb2.Meter
    def __init__(self, meter: _Optional[_Union[_meter_pb2.Meter, _Mapping]] = ...) -> None: ...
