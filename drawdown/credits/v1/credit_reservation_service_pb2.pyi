import datetime

from drawdown.type.v1 import access_pb2 as _access_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreditReservation(_message.Message):
    __slots__ = ("id", "customer_id", "price_id", "amount", "drawn_from", "uncovered_amount", "spendable_balance", "create_time", "expire_time", "end_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DRAWN_FROM_FIELD_NUMBER: _ClassVar[int]
    UNCOVERED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SPENDABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    price_id: str
    amount: _money_pb2.Money
    drawn_from: _containers.RepeatedCompositeFieldContainer[ReservationSource]
    uncovered_amount: _money_pb2.Money
    spendable_balance: _money_pb2.Money
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., price_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., drawn_from: _Optional[_Iterable[_Union[ReservationSource, _Mapping]]] = ..., uncovered_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., spendable_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReservationSource(_message.Message):
    __slots__ = ("credit_grant_id", "amount")
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    credit_grant_id: str
    amount: _money_pb2.Money
    def __init__(self, credit_grant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class SpendableBalance(_message.Message):
    __slots__ = ("spendable_balance", "available_credits", "reserved", "unbilled_usage", "overdraft_allowance", "granted")
    SPENDABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CREDITS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_USAGE_FIELD_NUMBER: _ClassVar[int]
    OVERDRAFT_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    spendable_balance: _money_pb2.Money
    available_credits: _money_pb2.Money
    reserved: _money_pb2.Money
    unbilled_usage: _money_pb2.Money
    overdraft_allowance: _money_pb2.Money
    granted: _money_pb2.Money
    def __init__(self, spendable_balance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., available_credits: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reserved: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., unbilled_usage: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., overdraft_allowance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., granted: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ReserveCreditsRequest(_message.Message):
    __slots__ = ("reservation_id", "customer_id", "price_id", "amount", "ttl", "unbilled_usage", "overdraft_allowance")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_USAGE_FIELD_NUMBER: _ClassVar[int]
    OVERDRAFT_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    customer_id: str
    price_id: str
    amount: _money_pb2.Money
    ttl: _duration_pb2.Duration
    unbilled_usage: _money_pb2.Money
    overdraft_allowance: _money_pb2.Money
    def __init__(self, reservation_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., price_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., unbilled_usage: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., overdraft_allowance: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ReserveCreditsResponse(_message.Message):
    __slots__ = ("credit_reservation",)
    CREDIT_RESERVATION_FIELD_NUMBER: _ClassVar[int]
    credit_reservation: CreditReservation
    def __init__(self, credit_reservation: _Optional[_Union[CreditReservation, _Mapping]] = ...) -> None: ...

class EndCreditReservationRequest(_message.Message):
    __slots__ = ("reservation_id", "customer_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    customer_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class EndCreditReservationResponse(_message.Message):
    __slots__ = ("credit_reservation",)
    CREDIT_RESERVATION_FIELD_NUMBER: _ClassVar[int]
    credit_reservation: CreditReservation
    def __init__(self, credit_reservation: _Optional[_Union[CreditReservation, _Mapping]] = ...) -> None: ...

class GetSpendableBalanceRequest(_message.Message):
    __slots__ = ("customer_id", "unbilled_usage", "overdraft_allowances")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_USAGE_FIELD_NUMBER: _ClassVar[int]
    OVERDRAFT_ALLOWANCES_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    unbilled_usage: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    overdraft_allowances: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    def __init__(self, customer_id: _Optional[str] = ..., unbilled_usage: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., overdraft_allowances: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ...) -> None: ...

class GetSpendableBalanceResponse(_message.Message):
    __slots__ = ("as_of_time", "balances")
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    as_of_time: _timestamp_pb2.Timestamp
    balances: _containers.RepeatedCompositeFieldContainer[SpendableBalance]
    def __init__(self, as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balances: _Optional[_Iterable[_Union[SpendableBalance, _Mapping]]] = ...) -> None: ...
