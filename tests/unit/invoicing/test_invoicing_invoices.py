"""Invoices: draft lines, totals and credits, statuses (I-10 .. I-13)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drawdown.errors import FailedPrecondition
from drawdown.money import Money
from invoicing_service.domain.invoices import (
    CreditApplication,
    InvoiceAction,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    MeteredUsage,
    auto_finalize_at,
    draft_lines,
    invoice_totals,
    next_status,
    status_after_finalization,
)
from invoicing_service.domain.periods import Interval, Period
from invoicing_service.domain.prices import BillingScheme, LineNotBillable, Price, Tier, TiersMode, UsageType
from invoicing_service.domain.subscriptions import SubscriptionItem


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def metered_price(unit_amount: str, meter_id: str) -> Price:
    return Price(
        currency="USD",
        usage_type=UsageType.METERED,
        interval=Interval.MONTH,
        meter_id=meter_id,
        unit_amount_decimal=Decimal(unit_amount),
    )


MARCH = Period(utc(2024, 3, 1), utc(2024, 4, 1))
APRIL = Period(utc(2024, 4, 1), utc(2024, 5, 1))
INPUT = SubscriptionItem("si_input", "price_input", metered_price("3", "mtr_input"))
OUTPUT = SubscriptionItem("si_output", "price_output", metered_price("5", "mtr_output"))
SEATS = SubscriptionItem(
    "si_seats",
    "price_seats",
    Price(
        currency="USD",
        usage_type=UsageType.LICENSED,
        interval=Interval.MONTH,
        unit_amount_decimal=Decimal(1000),
    ),
    quantity=4,
)


@pytest.fixture
def new_line_id():
    """Line ids il_1, il_2, ... in the order lines are made."""
    counter = itertools.count(1)
    return lambda: f"il_{next(counter)}"


def usage(period: Period = MARCH, **quantities: str) -> dict[str, MeteredUsage]:
    return {item_id: MeteredUsage(period, Decimal(quantity)) for item_id, quantity in quantities.items()}


class TestHypernian:
    def test_3000_input_tokens_with_10_usd_of_credits(self, new_line_id):
        lines = draft_lines(
            [INPUT, OUTPUT],
            usage(si_input="3000", si_output="0"),
            usage_period=MARCH,
            advance_period=None,
            new_line_id=new_line_id,
        )
        credits = [CreditApplication("il_1", "cg_jenny", Money("USD", 1000), "cbt_1")]
        totals = invoice_totals("USD", lines, credits)

        assert [line.amount for line in lines] == [Money("USD", 9000), Money("USD", 0)]
        assert str(totals.subtotal) == "90.00 USD"
        assert str(totals.credits_total) == "10.00 USD"
        assert totals.total == totals.subtotal
        assert str(totals.amount_due) == "80.00 USD"
        assert totals.lines[0].credits == tuple(credits)
        assert totals.lines[0].credits_total == Money("USD", 1000)
        assert totals.lines[1].credits == ()
        assert status_after_finalization(totals.amount_due) is InvoiceStatus.OPEN


class TestDraftLines:
    def test_period_close_bills_usage_in_arrears_and_seats_in_advance(self, new_line_id):
        lines = draft_lines(
            [SEATS, INPUT],
            usage(si_input="10"),
            usage_period=MARCH,
            advance_period=APRIL,
            new_line_id=new_line_id,
        )
        assert lines == (
            InvoiceLine(
                "il_1",
                LineKind.LICENSED,
                APRIL,
                Decimal(4),
                Decimal(1000),
                Money("USD", 4000),
                "price_seats",
                "si_seats",
            ),
            InvoiceLine(
                "il_2",
                LineKind.METERED,
                MARCH,
                Decimal(10),
                Decimal(3),
                Money("USD", 30),
                "price_input",
                "si_input",
            ),
        )

    def test_creation_invoice_bills_licensed_items_only(self, new_line_id):
        lines = draft_lines(
            [INPUT, SEATS], {}, usage_period=None, advance_period=MARCH, new_line_id=new_line_id
        )
        assert [line.subscription_item_id for line in lines] == ["si_seats"]

    def test_final_invoice_bills_no_next_period(self, new_line_id):
        lines = draft_lines(
            [INPUT, SEATS],
            usage(si_input="1"),
            usage_period=MARCH,
            advance_period=None,
            new_line_id=new_line_id,
        )
        assert [line.subscription_item_id for line in lines] == ["si_input"]

    def test_negative_usage_bills_zero(self, new_line_id):
        (line,) = draft_lines(
            [INPUT], usage(si_input="-25"), usage_period=MARCH, advance_period=None, new_line_id=new_line_id
        )
        assert (line.quantity, line.amount) == (0, Money("USD", 0))

    def test_tiered_lines_have_no_single_unit_amount(self, new_line_id):
        tiered = Price(
            currency="USD",
            usage_type=UsageType.METERED,
            interval=Interval.MONTH,
            meter_id="mtr_input",
            billing_scheme=BillingScheme.TIERED,
            tiers_mode=TiersMode.GRADUATED,
            tiers=(Tier(5, Decimal(700)), Tier(None, Decimal(650))),
        )
        item = SubscriptionItem("si_fonts", "price_fonts", tiered)
        (line,) = draft_lines(
            [item], usage(si_fonts="6"), usage_period=MARCH, advance_period=None, new_line_id=new_line_id
        )
        assert (line.unit_amount_decimal, line.amount) == (None, Money("USD", 4150))

    @pytest.mark.parametrize(
        "measured",
        [Period(utc(2024, 3, 1), utc(2024, 3, 31)), Period(utc(2024, 3, 1), utc(2024, 4, 1, 0, 0, 1))],
        ids=["short", "long"],
    )
    def test_usage_must_cover_exactly_the_billed_period(self, new_line_id, measured):
        with pytest.raises(ValueError, match="measured over"):
            draft_lines(
                [INPUT],
                usage(measured, si_input="1"),
                usage_period=MARCH,
                advance_period=None,
                new_line_id=new_line_id,
            )

    def test_every_metered_item_needs_usage(self, new_line_id):
        with pytest.raises(ValueError, match="no usage"):
            draft_lines([INPUT], {}, usage_period=MARCH, advance_period=None, new_line_id=new_line_id)


def line(line_id: str, minor: int, currency: str = "USD") -> InvoiceLine:
    return InvoiceLine(
        line_id, LineKind.METERED, MARCH, Decimal(minor), Decimal(1), Money(currency, minor), "price_x"
    )


class TestTotals:
    def test_credits_per_line_in_allocation_order(self):
        credits = [
            CreditApplication("il_2", "cg_a", Money("USD", 300)),
            CreditApplication("il_1", "cg_a", Money("USD", 100)),
            CreditApplication("il_2", "cg_b", Money("USD", 200)),
        ]
        totals = invoice_totals("USD", [line("il_1", 100), line("il_2", 900)], credits)
        assert [entry.grant_id for entry in totals.lines[1].credits] == ["cg_a", "cg_b"]
        assert [entry.credits_total.minor for entry in totals.lines] == [100, 500]
        assert (totals.subtotal.minor, totals.credits_total.minor, totals.amount_due.minor) == (
            1000,
            600,
            400,
        )

    def test_fully_credited_invoice_is_paid_at_finalization(self):
        totals = invoice_totals(
            "USD", [line("il_1", 500)], [CreditApplication("il_1", "cg_a", Money("USD", 500))]
        )
        assert totals.amount_due == Money("USD", 0)
        assert status_after_finalization(totals.amount_due) is InvoiceStatus.PAID

    def test_no_lines_nothing_due(self):
        totals = invoice_totals("EUR", [])
        assert (totals.subtotal, totals.amount_due) == (Money("EUR", 0), Money("EUR", 0))

    @pytest.mark.parametrize(
        ("credit", "why"),
        [
            (CreditApplication("il_1", "cg_a", Money("USD", 501)), "credited"),
            (CreditApplication("il_9", "cg_a", Money("USD", 1)), "not a line"),
            (CreditApplication("il_1", "cg_a", Money("EUR", 1)), "on a USD invoice"),
            (CreditApplication("il_1", "cg_a", Money("USD", 0)), "on a USD invoice"),
        ],
        ids=["below zero", "unknown line", "currency", "zero"],
    )
    def test_refuses_impossible_allocations(self, credit, why):
        with pytest.raises(ValueError, match=why):
            invoice_totals("USD", [line("il_1", 500)], [credit])

    def test_lines_share_the_invoice_currency(self):
        with pytest.raises(ValueError):
            invoice_totals("USD", [line("il_1", 500, currency="EUR")])

    def test_a_negative_amount_due_is_a_bug(self):
        with pytest.raises(ValueError):
            status_after_finalization(Money("USD", -1))


ALLOWED = {
    (InvoiceStatus.DRAFT, InvoiceAction.FINALIZE),
    (InvoiceStatus.OPEN, InvoiceAction.PAY),
    (InvoiceStatus.OPEN, InvoiceAction.VOID),
    (InvoiceStatus.OPEN, InvoiceAction.MARK_UNCOLLECTIBLE),
}
REFUSED = sorted(set(itertools.product(InvoiceStatus, InvoiceAction)) - ALLOWED)


class TestStatuses:
    @pytest.mark.parametrize(
        ("amount_due", "status"),
        [(Money("USD", 8000), InvoiceStatus.OPEN), (Money("USD", 0), InvoiceStatus.PAID)],
    )
    def test_finalize_draft(self, amount_due, status):
        assert next_status(InvoiceStatus.DRAFT, InvoiceAction.FINALIZE, amount_due=amount_due) is status

    @pytest.mark.parametrize(
        ("action", "status"),
        [
            (InvoiceAction.PAY, InvoiceStatus.PAID),
            (InvoiceAction.VOID, InvoiceStatus.VOID),
            (InvoiceAction.MARK_UNCOLLECTIBLE, InvoiceStatus.UNCOLLECTIBLE),
        ],
    )
    def test_from_open(self, action, status):
        assert next_status(InvoiceStatus.OPEN, action) is status

    @pytest.mark.parametrize(("status", "action"), REFUSED)
    def test_everything_else_is_refused(self, status, action):
        with pytest.raises(FailedPrecondition) as raised:
            next_status(status, action, amount_due=Money("USD", 0))
        error = raised.value
        assert error.reason == "INVALID_INVOICE_STATUS"
        assert error.metadata == {"status": status.value, "action": action.value}
        assert status.value in error.message and action.value.replace("_", " ") in error.message

    def test_refusal_says_where_the_action_is_allowed(self):
        with pytest.raises(
            FailedPrecondition, match="cannot void an invoice that is draft; allowed only from open"
        ):
            next_status(InvoiceStatus.DRAFT, InvoiceAction.VOID)

    def test_finalization_needs_the_amount_due(self):
        with pytest.raises(TypeError):
            next_status(InvoiceStatus.DRAFT, InvoiceAction.FINALIZE)


def test_auto_finalize_after_the_grace_period():
    assert auto_finalize_at(MARCH.end, timedelta(hours=1)) == utc(2024, 4, 1, 1)


def test_raw_usage_beyond_what_a_line_stores_cannot_be_billed_even_if_negative():
    with pytest.raises(LineNotBillable) as raised:
        draft_lines(
            [INPUT],
            {INPUT.id: MeteredUsage(MARCH, Decimal("-1e45"))},
            usage_period=MARCH,
            advance_period=None,
            new_line_id=lambda: "il_1",
        )
    assert raised.value.reason == "QUANTITY_TOO_LARGE"
