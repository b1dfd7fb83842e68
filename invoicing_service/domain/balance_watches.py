"""Watches on a customer's spendable balance (R-2): auto top-ups (R-6) and balance alerts
(R-7).

A watch compares the spendable balance in its currency with a threshold. It is *armed*
until the balance falls below the threshold; that downward crossing is acted on once (an
alert's event, a top-up's purchase) and disarms it; it arms again once the balance is
back at or above the threshold. So a balance that stays below acts once, however often it
is evaluated, and every new crossing acts again.

A watch's state is kept per customer under a key derived from its settings (``key``),
so that a changed threshold starts armed while a top-up keeps its month's total.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from drawdown.errors import InvalidArgument
from drawdown.money import Money, decimal_places, format_decimal, round_minor
from invoicing_service.domain import reasons

MAX_BALANCE_ALERTS = 10
MAX_PERCENT = Decimal(100)


class Collection(StrEnum):
    """How a top-up's purchase is collected (R-6)."""

    PAID = "paid"  # charged out of band: paid at once, its grant created
    OPEN = "open"  # the purchase invoice waits for PayInvoice


@dataclass(frozen=True)
class AutoTopUp:
    """R-6: below ``threshold``, buy ``amount`` (or up to ``recharge_to``), at most
    ``monthly_cap`` a calendar month."""

    threshold: Money
    amount: Money | None
    recharge_to: Money | None
    monthly_cap: Money
    collection: Collection

    @property
    def currency(self) -> str:
        return self.threshold.currency

    @property
    def key(self) -> str:
        # One top-up per currency: its month's total survives a change of its settings.
        return f"top_up:{self.currency}"


@dataclass(frozen=True)
class BalanceAlert:
    """R-7: a threshold as an amount or as a percentage of what was granted."""

    currency: str
    amount: Money | None
    percent_of_granted: Decimal | None

    @property
    def key(self) -> str:
        if self.amount is not None:
            return f"alert:{self.currency}:{self.amount.minor}"
        assert self.percent_of_granted is not None
        return f"alert:{self.currency}:{format_decimal(self.percent_of_granted)}%"

    def threshold(self, granted: Money) -> Money:
        """The threshold as an amount: a percentage's share of ``granted``, rounded half-up
        to a minor unit."""
        if self.amount is not None:
            return self.amount
        assert self.percent_of_granted is not None
        return Money(
            self.currency, round_minor(Decimal(granted.minor) * self.percent_of_granted / MAX_PERCENT)
        )


@dataclass(frozen=True)
class WatchState:
    """Whether a watch is armed and, for a top-up, what it bought in ``month`` (minor
    units). A watch never evaluated is armed."""

    armed: bool = True
    month: str = ""
    topped_up: int = 0


@dataclass(frozen=True)
class ThresholdCrossed:
    """What a ``credit_balance.threshold_crossed`` event tells (R-7)."""

    customer_id: str
    alert: BalanceAlert
    threshold: Money
    spendable_balance: Money
    granted: Money
    as_of: datetime


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a top-up's cap counts in: ``2026-01``."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def judge_alert(state: WatchState, balance: Money, threshold: Money) -> tuple[WatchState, bool]:
    """R-7: the new state, and whether the alert fires (an armed alert whose balance is
    below its threshold)."""
    below = balance.minor < threshold.minor
    if below and state.armed:
        return replace(state, armed=False), True
    if not below and not state.armed:
        return replace(state, armed=True), False
    return state, False


def judge_top_up(top_up: AutoTopUp, state: WatchState, balance: Money, month: str) -> tuple[WatchState, int]:
    """R-6: the new state and what to buy now (minor units; 0 for nothing).

    Below the threshold an armed top-up buys its amount (or ``recharge_to`` − balance),
    cut to what the month's cap leaves, and disarms. When the cap leaves nothing it stays
    armed, so that it buys as soon as a new month leaves room, if the balance is still
    below then."""
    if state.month != month:
        state = WatchState(state.armed, month, 0)
    if balance.minor >= top_up.threshold.minor:
        return replace(state, armed=True), 0
    if not state.armed:
        return state, 0
    if top_up.amount is not None:
        wanted = top_up.amount.minor
    else:
        assert top_up.recharge_to is not None
        wanted = top_up.recharge_to.minor - balance.minor
    bought = min(wanted, top_up.monthly_cap.minor - state.topped_up)
    if bought <= 0:
        return state, 0
    return WatchState(False, month, state.topped_up + bought), bought


def validate_auto_top_ups(top_ups: list[AutoTopUp], field: str) -> tuple[AutoTopUp, ...]:
    """R-6: at most one top-up per currency; each amount in the threshold's currency, the
    amount and cap positive, a recharge target above the threshold."""
    currencies: set[str] = set()
    for position, top_up in enumerate(top_ups):
        at = f"{field}[{position}]"
        if top_up.currency in currencies:
            raise InvalidArgument.for_field(
                f"{at}.threshold", f"a second top-up in {top_up.currency}", reason=reasons.CURRENCY_MISMATCH
            )
        currencies.add(top_up.currency)
        sizes = {
            "amount": top_up.amount,
            "recharge_to": top_up.recharge_to,
            "monthly_cap": top_up.monthly_cap,
        }
        for name, money in sizes.items():
            if money is not None and money.currency != top_up.currency:
                raise InvalidArgument.for_field(
                    f"{at}.{name}", f"must be in {top_up.currency}", reason=reasons.CURRENCY_MISMATCH
                )
        for name in ("amount", "monthly_cap"):
            money = sizes[name]
            if money is not None and money.minor <= 0:
                raise InvalidArgument.for_field(
                    f"{at}.{name}", "must be positive", reason=reasons.INVALID_AMOUNT
                )
        if top_up.recharge_to is not None and top_up.recharge_to.minor <= top_up.threshold.minor:
            raise InvalidArgument.for_field(
                f"{at}.recharge_to", "must be above the threshold", reason=reasons.INVALID_AMOUNT
            )
    return tuple(top_ups)


def validate_balance_alerts(alerts: list[BalanceAlert], field: str) -> tuple[BalanceAlert, ...]:
    """R-7: at most 10 alerts, no two alike; an amount in the alert's currency; a
    percentage above 0, at most 100, with at most 2 decimal places."""
    if len(alerts) > MAX_BALANCE_ALERTS:
        raise InvalidArgument.for_field(field, f"holds more than {MAX_BALANCE_ALERTS} alerts")
    keys: set[str] = set()
    for position, alert in enumerate(alerts):
        at = f"{field}[{position}]"
        if alert.amount is not None and alert.amount.currency != alert.currency:
            raise InvalidArgument.for_field(
                f"{at}.amount", f"must be in {alert.currency}", reason=reasons.CURRENCY_MISMATCH
            )
        percent = alert.percent_of_granted
        if percent is not None and (not Decimal(0) < percent <= MAX_PERCENT or decimal_places(percent) > 2):
            raise InvalidArgument.for_field(
                f"{at}.percent_of_granted", "must be above 0 and at most 100, with at most 2 decimal places"
            )
        if alert.key in keys:
            raise InvalidArgument.for_field(at, "is the same as an earlier alert")
        keys.add(alert.key)
    return tuple(alerts)
