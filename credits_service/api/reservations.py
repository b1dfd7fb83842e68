"""CreditReservationService: convert, call the use case, convert (R-1..R-4).

Reservations are idempotent by their id (the authorization's, chosen by invoicing), so
they carry no request id of their own; a reservation runs on the hot path's raw
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.type import money_pb2

from credits_service.api import convert
from credits_service.domain import reasons
from credits_service.domain.reservations import Reservation, Spendable, validate_ttl
from credits_service.service.reservations import NewReservation, ReservationUseCases
from credits_service.store.unit import CreditRepositories
from drawdown.credits.v1 import credit_reservation_service_pb2 as pb
from drawdown.credits.v1 import credit_reservation_service_pb2_grpc
from drawdown.db.engine import Database
from drawdown.errors import InvalidArgument
from drawdown.money import Money
from drawdown.rpc.convert import duration_from_proto, timestamp_to_proto
from drawdown.rpc.idempotent import Mutations


class CreditReservationServicer(credit_reservation_service_pb2_grpc.CreditReservationServiceServicer):
    def __init__(self, reservations: ReservationUseCases, mutations: Mutations, database: Database) -> None:
        self._reservations = reservations
        self._mutations = mutations
        self._database = database

    async def ReserveCredits(self, request, context):
        new = _new_reservation(request)

        async def work(tx):
            reserved = await self._reservations.reserve(CreditRepositories.recording(tx, self._database), new)
            return pb.ReserveCreditsResponse(credit_reservation=reservation_to_proto(reserved))

        return await self._mutations.run_raw("ReserveCredits", request, pb.ReserveCreditsResponse, work)

    async def EndCreditReservation(self, request, context):
        reservation_id = convert.required(request.reservation_id, "reservation_id")
        customer_id = convert.required(request.customer_id, "customer_id")

        async def work(tx):
            ended = await self._reservations.end(
                CreditRepositories.recording(tx, self._database), reservation_id, customer_id
            )
            return pb.EndCreditReservationResponse(credit_reservation=reservation_to_proto(ended))

        return await self._mutations.run_raw(
            "EndCreditReservation", request, pb.EndCreditReservationResponse, work
        )

    async def GetSpendableBalance(self, request, context):
        customer_id = convert.required(request.customer_id, "customer_id")
        unbilled = _per_currency(request.unbilled_usage, "unbilled_usage")
        overdraft = _per_currency(request.overdraft_allowances, "overdraft_allowances")
        as_of, balances = await self._reservations.spendable(customer_id, unbilled, overdraft)
        return pb.GetSpendableBalanceResponse(
            as_of_time=timestamp_to_proto(as_of), balances=[spendable_to_proto(b) for b in balances]
        )


def _new_reservation(request: pb.ReserveCreditsRequest) -> NewReservation:
    amount = convert.money_in(request.amount, "amount")
    if amount.minor <= 0:
        raise InvalidArgument.for_field("amount", "must be positive", reason=reasons.INVALID_AMOUNT)
    if not request.HasField("ttl"):
        raise InvalidArgument.for_field("ttl", "is required")
    return NewReservation(
        reservation_id=convert.required(request.reservation_id, "reservation_id"),
        customer_id=convert.required(request.customer_id, "customer_id"),
        price_id=convert.required(request.price_id, "price_id"),
        amount=amount,
        ttl=validate_ttl(duration_from_proto(request.ttl, "ttl"), "ttl"),
        unbilled_usage=_optional_in(request, "unbilled_usage", amount.currency),
        overdraft_allowance=_optional_in(request, "overdraft_allowance", amount.currency),
    )


def _optional_in(request: pb.ReserveCreditsRequest, field: str, currency: str) -> Money:
    if not request.HasField(field):
        return Money.zero(currency)
    money = _non_negative(getattr(request, field), field)
    if money.currency != currency:
        raise InvalidArgument.for_field(
            f"{field}.currency_code", f"must be {currency}, as amount", reason=reasons.CURRENCY_MISMATCH
        )
    return money


def _non_negative(message: money_pb2.Money, field: str) -> Money:
    money = convert.money_in(message, field)
    if money.minor < 0:
        raise InvalidArgument.for_field(field, "must not be negative", reason=reasons.INVALID_AMOUNT)
    return money


def _per_currency(messages: Sequence[money_pb2.Money], field: str) -> dict[str, Money]:
    amounts: dict[str, Money] = {}
    for position, message in enumerate(messages):
        money = _non_negative(message, f"{field}[{position}]")
        if money.currency in amounts:
            raise InvalidArgument.for_field(
                f"{field}[{position}].currency_code",
                f"a second amount in {money.currency}",
                reason=reasons.CURRENCY_MISMATCH,
            )
        amounts[money.currency] = money
    return amounts


def reservation_to_proto(reservation: Reservation) -> pb.CreditReservation:
    message = pb.CreditReservation(
        id=reservation.id,
        customer_id=reservation.customer_id,
        price_id=reservation.price_id,
        amount=convert.wire_money(reservation.amount),
        drawn_from=[
            pb.ReservationSource(credit_grant_id=grant_id, amount=convert.wire_money(amount))
            for grant_id, amount in reservation.sources
        ],
        uncovered_amount=convert.wire_money(reservation.uncovered),
        spendable_balance=convert.wire_money(reservation.spendable_after),
        create_time=timestamp_to_proto(reservation.create_time),
        expire_time=timestamp_to_proto(reservation.expire_time),
    )
    if reservation.end_time is not None:
        message.end_time.CopyFrom(timestamp_to_proto(reservation.end_time))
    return message


def spendable_to_proto(spendable: Spendable) -> pb.SpendableBalance:
    message = pb.SpendableBalance(
        spendable_balance=convert.wire_money(spendable.balance),
        available_credits=convert.wire_money(spendable.available_credits),
        reserved=convert.wire_money(spendable.reserved),
        unbilled_usage=convert.wire_money(spendable.unbilled_usage),
        overdraft_allowance=convert.wire_money(spendable.overdraft_allowance),
    )
    if spendable.granted is not None:
        message.granted.CopyFrom(convert.wire_money(spendable.granted))
    return message
