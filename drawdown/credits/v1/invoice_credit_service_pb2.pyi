import datetime

from drawdown.credits.v1 import credit_balance_pb2 as _credit_balance_pb2
from drawdown.credits.v1 import invoice_credit_pb2 as _invoice_credit_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HoldInvoiceCreditsRequest(_message.Message):
    __slots__ = ("request_id", "invoice")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice: _invoice_credit_pb2.InvoiceForCredits
    def __init__(self, request_id: _Optional[str] = ..., invoice: _Optional[_Union[_invoice_credit_pb2.InvoiceForCredits, _Mapping]] = ...) -> None: ...

class HoldInvoiceCreditsResponse(_message.Message):
    __slots__ = ("credit_allocation",)
    CREDIT_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    credit_allocation: _invoice_credit_pb2.CreditAllocation
    def __init__(self, credit_allocation: _Optional[_Union[_invoice_credit_pb2.CreditAllocation, _Mapping]] = ...) -> None: ...

class ApplyInvoiceCreditsRequest(_message.Message):
    __slots__ = ("request_id", "invoice")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice: _invoice_credit_pb2.InvoiceForCredits
    def __init__(self, request_id: _Optional[str] = ..., invoice: _Optional[_Union[_invoice_credit_pb2.InvoiceForCredits, _Mapping]] = ...) -> None: ...

class ApplyInvoiceCreditsResponse(_message.Message):
    __slots__ = ("credit_allocation",)
    CREDIT_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    credit_allocation: _invoice_credit_pb2.CreditAllocation
    def __init__(self, credit_allocation: _Optional[_Union[_invoice_credit_pb2.CreditAllocation, _Mapping]] = ...) -> None: ...

class BatchHoldInvoiceCreditsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[HoldInvoiceCreditsRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[HoldInvoiceCreditsRequest, _Mapping]]] = ...) -> None: ...

class BatchHoldInvoiceCreditsResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[HoldInvoiceCreditsResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[HoldInvoiceCreditsResponse, _Mapping]]] = ...) -> None: ...

class BatchApplyInvoiceCreditsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ApplyInvoiceCreditsRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ApplyInvoiceCreditsRequest, _Mapping]]] = ...) -> None: ...

class BatchApplyInvoiceCreditsResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ApplyInvoiceCreditsResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ApplyInvoiceCreditsResponse, _Mapping]]] = ...) -> None: ...

class ReleaseInvoiceCreditsRequest(_message.Message):
    __slots__ = ("request_id", "invoice_id", "customer_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice_id: str
    customer_id: str
    def __init__(self, request_id: _Optional[str] = ..., invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class ReleaseInvoiceCreditsResponse(_message.Message):
    __slots__ = ("released_allocation",)
    RELEASED_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    released_allocation: _invoice_credit_pb2.CreditAllocation
    def __init__(self, released_allocation: _Optional[_Union[_invoice_credit_pb2.CreditAllocation, _Mapping]] = ...) -> None: ...

class ReinstateInvoiceCreditsRequest(_message.Message):
    __slots__ = ("request_id", "invoice_id", "customer_id", "as_of")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    invoice_id: str
    customer_id: str
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., invoice_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReinstateInvoiceCreditsResponse(_message.Message):
    __slots__ = ("credit_balance_transactions",)
    CREDIT_BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    credit_balance_transactions: _containers.RepeatedCompositeFieldContainer[_credit_balance_pb2.CreditBalanceTransaction]
    def __init__(self, credit_balance_transactions: _Optional[_Iterable[_Union[_credit_balance_pb2.CreditBalanceTransaction, _Mapping]]] = ...) -> None: ...

class PreviewInvoiceCreditsRequest(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _invoice_credit_pb2.InvoiceForCredits
    def __init__(self, invoice: _Optional[_Union[_invoice_credit_pb2.InvoiceForCredits, _Mapping]] = ...) -> None: ...

class PreviewInvoiceCreditsResponse(_message.Message):
    __slots__ = ("credit_allocation",)
    CREDIT_ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    credit_allocation: _invoice_credit_pb2.CreditAllocation
    def __init__(self, credit_allocation: _Optional[_Union[_invoice_credit_pb2.CreditAllocation, _Mapping]] = ...) -> None: ...

class ExpireDueCreditGrantsRequest(_message.Message):
    __slots__ = ("request_id", "as_of", "customer_ids", "exclude_customer_ids")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    as_of: _timestamp_pb2.Timestamp
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    exclude_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., exclude_customer_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ExpireDueCreditGrantsResponse(_message.Message):
    __slots__ = ("expired_grant_count", "transaction_count")
    EXPIRED_GRANT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    expired_grant_count: int
    transaction_count: int
    def __init__(self, expired_grant_count: _Optional[int] = ..., transaction_count: _Optional[int] = ...) -> None: ...
