import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreditBalanceTransactionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_BALANCE_TRANSACTION_TYPE_UNSPECIFIED: _ClassVar[CreditBalanceTransactionType]
    CREDIT_BALANCE_TRANSACTION_TYPE_CREDIT: _ClassVar[CreditBalanceTransactionType]
    CREDIT_BALANCE_TRANSACTION_TYPE_DEBIT: _ClassVar[CreditBalanceTransactionType]

class CreditBalanceTransactionCreditType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_UNSPECIFIED: _ClassVar[CreditBalanceTransactionCreditType]
    CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_GRANTED: _ClassVar[CreditBalanceTransactionCreditType]
    CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_APPLICATION_INVOICE_VOIDED: _ClassVar[CreditBalanceTransactionCreditType]

class CreditBalanceTransactionDebitType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_UNSPECIFIED: _ClassVar[CreditBalanceTransactionDebitType]
    CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_APPLIED: _ClassVar[CreditBalanceTransactionDebitType]
    CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED: _ClassVar[CreditBalanceTransactionDebitType]
    CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_VOIDED: _ClassVar[CreditBalanceTransactionDebitType]
CREDIT_BALANCE_TRANSACTION_TYPE_UNSPECIFIED: CreditBalanceTransactionType
CREDIT_BALANCE_TRANSACTION_TYPE_CREDIT: CreditBalanceTransactionType
CREDIT_BALANCE_TRANSACTION_TYPE_DEBIT: CreditBalanceTransactionType
CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_UNSPECIFIED: CreditBalanceTransactionCreditType
CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_GRANTED: CreditBalanceTransactionCreditType
CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_APPLICATION_INVOICE_VOIDED: CreditBalanceTransactionCreditType
CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_UNSPECIFIED: CreditBalanceTransactionDebitType
CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_APPLIED: CreditBalanceTransactionDebitType
CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED: CreditBalanceTransactionDebitType
CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_VOIDED: CreditBalanceTransactionDebitType

class CreditBalanceSummary(_message.Message):
    __slots__ = ("customer_id", "balances")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    balances: _containers.RepeatedCompositeFieldContainer[CreditBalance]
    def __init__(self, customer_id: _Optional[str] = ..., balances: _Optional[_Iterable[_Union[CreditBalance, _Mapping]]] = ...) -> None: ...

class CreditBalance(_message.Message):
    __slots__ = ("available_balance", "ledger_balance")
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_BALANCE_FIELD_NUMBER: _ClassVar[int]
    available_balance: _money_pb2.Money
    ledger_balance: _money_pb2.Money
    def __init__(self, available_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., ledger_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class CreditBalanceTransaction(_message.Message):
    __slots__ = ("id", "customer_id", "credit_grant_id", "type", "credit", "debit", "effective_time", "create_time", "linked_transaction_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    DEBIT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LINKED_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    credit_grant_id: str
    type: CreditBalanceTransactionType
    credit: CreditBalanceTransactionCredit
    debit: CreditBalanceTransactionDebit
    effective_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    linked_transaction_id: str
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., credit_grant_id: _Optional[str] = ..., type: _Optional[_Union[CreditBalanceTransactionType, str]] = ..., credit: _Optional[_Union[CreditBalanceTransactionCredit, _Mapping]] = ..., debit: _Optional[_Union[CreditBalanceTransactionDebit, _Mapping]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., linked_transaction_id: _Optional[str] = ...) -> None: ...

class CreditBalanceTransactionCredit(_message.Message):
    __slots__ = ("amount", "type", "invoice_id")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    amount: _money_pb2.Money
    type: CreditBalanceTransactionCreditType
    invoice_id: str
    def __init__(self, amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., type: _Optional[_Union[CreditBalanceTransactionCreditType, str]] = ..., invoice_id: _Optional[str] = ...) -> None: ...

class CreditBalanceTransactionDebit(_message.Message):
    __slots__ = ("amount", "type", "invoice_id", "invoice_line_id")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_LINE_ID_FIELD_NUMBER: _ClassVar[int]
    amount: _money_pb2.Money
    type: CreditBalanceTransactionDebitType
    invoice_id: str
    invoice_line_id: str
    def __init__(self, amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., type: _Optional[_Union[CreditBalanceTransactionDebitType, str]] = ..., invoice_id: _Optional[str] = ..., invoice_line_id: _Optional[str] = ...) -> None: ...
