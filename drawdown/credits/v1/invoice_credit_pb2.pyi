import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceForCredits(_message.Message):
    __slots__ = ("invoice_id", "customer_id", "currency", "period_end", "as_of", "lines")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    customer_id: str
    currency: str
    period_end: _timestamp_pb2.Timestamp
    as_of: _timestamp_pb2.Timestamp
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLineForCredits]
    def __init__(self, invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[InvoiceLineForCredits, _Mapping]]] = ...) -> None: ...

class InvoiceLineForCredits(_message.Message):
    __slots__ = ("line_id", "price_id", "amount", "metered")
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    METERED_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    price_id: str
    amount: _money_pb2.Money
    metered: bool
    def __init__(self, line_id: _Optional[str] = ..., price_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., metered: _Optional[bool] = ...) -> None: ...

class CreditAllocation(_message.Message):
    __slots__ = ("invoice_id", "line_credits", "total")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_CREDITS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    line_credits: _containers.RepeatedCompositeFieldContainer[LineCreditAllocation]
    total: _money_pb2.Money
    def __init__(self, invoice_id: _Optional[str] = ..., line_credits: _Optional[_Iterable[_Union[LineCreditAllocation, _Mapping]]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class LineCreditAllocation(_message.Message):
    __slots__ = ("line_id", "credit_grant_id", "amount", "credit_balance_transaction_id")
    LINE_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_BALANCE_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    line_id: str
    credit_grant_id: str
    amount: _money_pb2.Money
    credit_balance_transaction_id: str
    def __init__(self, line_id: _Optional[str] = ..., credit_grant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., credit_balance_transaction_id: _Optional[str] = ...) -> None: ...
