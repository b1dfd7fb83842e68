"""Properties of the draw-down engine over generated invoices and grants (C-10..C-12, C-23)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from credits_service.domain.drawdown import Allocation, allocate_credits, grant_order_key, is_eligible
from credits_service.domain.grants import Applicability, GrantCategory
from credits_service.domain.ledger import check_invariant, ledger_balance
from drawdown.money import Money
from tests.unit.credits.credit_builders import (
    AS_OF,
    PERIOD_END,
    PERIOD_START,
    balance,
    grant,
    granted,
    invoice,
    line,
)

PRICES = ("price_a", "price_b", "price_c")
# Few distinct values per key, so that ties (and the keys after them) matter often; the
# values that make a grant ineligible are the rarer ones, so most examples draw credits.
PRIORITIES = st.integers(0, 2)
EXPIRIES = st.sampled_from([None, None, AS_OF + timedelta(days=1), AS_OF + timedelta(days=2), PERIOD_END])
MOMENTS = st.sampled_from(
    [PERIOD_START, PERIOD_START + timedelta(days=1), PERIOD_END, AS_OF + timedelta(days=1)]
)
EFFECTIVE = st.sampled_from(
    [PERIOD_START, PERIOD_START, PERIOD_START + timedelta(days=1), PERIOD_END, AS_OF + timedelta(days=1)]
)
SCOPES = st.one_of(
    st.just(Applicability.every_metered_price()),
    st.lists(st.sampled_from(PRICES), min_size=1, max_size=3, unique=True).map(
        lambda prices: Applicability.only_prices(*prices)
    ),
)


@st.composite
def any_balances(draw, *, covering_everything: bool = False):
    """Up to six grants with their available balances; with ``covering_everything`` each
    one is live, in USD and scoped to every metered price."""
    count = draw(st.integers(0, 6))
    balances = []
    for number in range(count):
        available = draw(st.integers(0, 2000))
        currency = "USD" if covering_everything else draw(st.sampled_from(["USD", "USD", "USD", "EUR"]))
        fields = dict(
            # Granted as much as is available (at least a cent): a fresh grant without holds.
            amount=Money(currency, max(available, 1)),
            priority=draw(PRIORITIES),
            category=draw(st.sampled_from(GrantCategory)),
            created_at=draw(MOMENTS),
        )
        if not covering_everything:
            fields.update(
                expires_at=draw(EXPIRIES),
                effective_at=draw(EFFECTIVE),
                applicability=draw(SCOPES),
                voided_at=draw(st.sampled_from([None, None, None, PERIOD_START])),
            )
        credit_grant = grant(f"cg_{number:02d}", **fields)
        balances.append(balance(credit_grant, available))
    return balances


@st.composite
def any_invoices(draw, *, metered_only: bool = False):
    amounts = draw(st.lists(st.integers(-500, 2000), max_size=6))
    lines = [
        line(
            f"il_{number:02d}",
            amount,
            draw(st.sampled_from(PRICES)),
            metered=metered_only or draw(st.sampled_from([True, True, True, False])),
        )
        for number, amount in enumerate(amounts)
    ]
    return invoice(*lines)


def by_grant_then_line(bill, balances) -> Allocation:
    """Reference: each grant in C-11 order pays its lines in invoice order (C-12 read literally)."""
    line_left = {item.line_id: item.amount.minor for item in bill.lines}
    cells = []
    for grant_balance in sorted(balances, key=lambda b: grant_order_key(b.grant)):
        grant_left = grant_balance.available.minor
        for item in bill.lines:
            if grant_left > 0 and line_left[item.line_id] > 0 and is_eligible(grant_balance, bill, item):
                amount = min(grant_left, line_left[item.line_id])
                cells.append((item.line_id, grant_balance.grant.id, amount))
                grant_left -= amount
                line_left[item.line_id] -= amount
    return cells


def cells(allocation: Allocation):
    return sorted((a.line_id, a.grant_id, a.amount.minor) for a in allocation.applications)


@given(any_invoices(), any_balances())
def test_never_beyond_a_grants_balance_nor_a_lines_amount(bill, balances):
    allocation = allocate_credits(bill, balances)
    available = {b.grant.id: b.available for b in balances}
    for grant_id, total in allocation.per_grant.items():
        assert total.minor <= available[grant_id].minor
    for item in bill.lines:
        assert allocation.credited_to_line(item.line_id).minor <= max(0, item.amount.minor)
    assert all(a.amount.minor > 0 for a in allocation.applications)


@given(any_invoices(), any_balances())
def test_every_application_is_eligible_and_unique_per_line_and_grant(bill, balances):
    allocation = allocate_credits(bill, balances)
    by_id = {b.grant.id: b for b in balances}
    lines = {item.line_id: item for item in bill.lines}
    for application in allocation.applications:
        assert is_eligible(by_id[application.grant_id], bill, lines[application.line_id])
    pairs = [(a.line_id, a.grant_id) for a in allocation.applications]
    assert len(pairs) == len(set(pairs))


@given(any_invoices(metered_only=True), any_balances(covering_everything=True))
def test_when_every_grant_covers_every_line_all_that_can_be_paid_is_paid(bill, balances):
    payable = sum(max(0, item.amount.minor) for item in bill.lines)
    funds = sum(b.available.minor for b in balances)
    assert allocate_credits(bill, balances).total.minor == min(payable, funds)


@given(any_invoices(), any_balances(), st.randoms(use_true_random=False))
def test_input_order_of_grants_does_not_matter(bill, balances, random):
    shuffled = list(balances)
    random.shuffle(shuffled)
    assert allocate_credits(bill, shuffled) == allocate_credits(bill, balances)


@given(any_invoices(), any_balances())
def test_line_by_line_equals_grant_by_grant(bill, balances):
    assert cells(allocate_credits(bill, balances)) == sorted(by_grant_then_line(bill, balances))


@given(any_invoices(), any_balances())
def test_posting_the_allocation_keeps_every_ledger_sound(bill, balances):
    """C-23: applying what was available never overdraws a grant's ledger."""
    postings = allocate_credits(bill, balances).to_postings(AS_OF)
    for grant_balance in balances:
        credit_grant = grant_balance.grant
        ledger = [granted(credit_grant), *(p for p in postings if p.grant_id == credit_grant.id)]
        assert check_invariant(credit_grant.amount, ledger) == ()
        assert not ledger_balance(credit_grant.amount.currency, ledger).is_negative()
