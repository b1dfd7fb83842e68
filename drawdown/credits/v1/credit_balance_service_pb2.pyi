import datetime

from drawdown.credits.v1 import credit_balance_pb2 as _credit_balance_pb2
from drawdown.credits.v1 import credit_grant_pb2 as _credit_grant_pb2
from drawdown.type.v1 import access_pb2 as _access_pb2
from drawdown.type.v1 import limits_pb2 as _limits_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetCreditBalanceSummaryRequest(_message.Message):
    __slots__ = ("customer_id", "applicability_config", "credit_grant_id", "as_of")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    applicability_config: _credit_grant_pb2.ApplicabilityConfig
    credit_grant_id: str
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., applicability_config: _Optional[_Union[_credit_grant_pb2.ApplicabilityConfig, _Mapping]] = ..., credit_grant_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCreditBalanceSummaryResponse(_message.Message):
    __slots__ = ("credit_balance_summary",)
    CREDIT_BALANCE_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    credit_balance_summary: _credit_balance_pb2.CreditBalanceSummary
    def __init__(self, credit_balance_summary: _Optional[_Union[_credit_balance_pb2.CreditBalanceSummary, _Mapping]] = ...) -> None: ...

class ListCreditBalanceTransactionsRequest(_message.Message):
    __slots__ = ("customer_id", "credit_grant_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    credit_grant_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., credit_grant_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCreditBalanceTransactionsResponse(_message.Message):
    __slots__ = ("credit_balance_transactions", "next_page_token")
    CREDIT_BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credit_balance_transactions: _containers.RepeatedCompositeFieldContainer[_credit_balance_pb2.CreditBalanceTransaction]
    next_page_token: str
    def __init__(self, credit_balance_transactions: _Optional[_Iterable[_Union[_credit_balance_pb2.CreditBalanceTransaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCreditBalanceTransactionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetCreditBalanceTransactionResponse(_message.Message):
    __slots__ = ("credit_balance_transaction",)
    CREDIT_BALANCE_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    credit_balance_transaction: _credit_balance_pb2.CreditBalanceTransaction
    def __init__(self, credit_balance_transaction: _Optional[_Union[_credit_balance_pb2.CreditBalanceTransaction, _Mapping]] = ...) -> None: ...
