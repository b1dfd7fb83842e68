"""Ledger rules: transaction kinds (C-22), balances (C-20), the invariant (C-23)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credits_service.domain.ledger import (
    Direction,
    LedgerTotals,
    Posting,
    TransactionKind,
    available_balance,
    check_invariant,
    ledger_balance,
)
from drawdown.money import Money
from tests.unit.credits.credit_builders import AS_OF, PERIOD_START, usd


def post(kind: TransactionKind, minor: int, currency: str = "USD") -> Posting:
    return Posting(grant_id="cg_1", kind=kind, amount=Money(currency, minor), effective_at=PERIOD_START)


GRANTED = TransactionKind.CREDITS_GRANTED
APPLIED = TransactionKind.CREDITS_APPLIED
REINSTATED = TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED
EXPIRED = TransactionKind.CREDITS_EXPIRED
VOIDED = TransactionKind.CREDITS_VOIDED


class TestTransactionKinds:
    """C-22: credits add to a grant, debits take from it."""

    @pytest.mark.parametrize("kind", [GRANTED, REINSTATED])
    def test_credits_add(self, kind):
        assert (kind.direction, kind.sign) == (Direction.CREDIT, 1)

    @pytest.mark.parametrize("kind", [APPLIED, EXPIRED, VOIDED])
    def test_debits_take(self, kind):
        assert (kind.direction, kind.sign) == (Direction.DEBIT, -1)

    def test_wire_names_are_stripe_names(self):
        assert [kind.value for kind in TransactionKind] == [
            "credits_granted",
            "credits_application_invoice_voided",
            "credits_applied",
            "credits_expired",
            "credits_voided",
        ]

    @pytest.mark.parametrize("minor", [0, -1])
    def test_a_posting_amount_is_positive(self, minor):
        with pytest.raises(ValueError):
            post(APPLIED, minor)


class TestLedgerBalance:
    """C-20: the signed sum of the grant's postings."""

    def test_empty_ledger_is_zero(self):
        assert ledger_balance("USD", []) == usd(0)

    def test_signed_sum(self):
        postings = [post(GRANTED, 1000), post(APPLIED, 300), post(REINSTATED, 100), post(APPLIED, 50)]
        assert ledger_balance("USD", postings) == usd(750)

    def test_totals_per_kind_agree_with_the_signed_sum(self):
        postings = [post(GRANTED, 1000), post(APPLIED, 300), post(REINSTATED, 100), post(EXPIRED, 800)]
        totals = LedgerTotals.of("USD", postings)
        assert totals == LedgerTotals(
            granted=usd(1000), applied=usd(300), reinstated=usd(100), expired=usd(800), voided=usd(0)
        )
        assert totals.ledger_balance == ledger_balance("USD", postings) == usd(0)

    def test_totals_refuse_a_foreign_currency(self):
        with pytest.raises(ValueError):
            LedgerTotals.of("USD", [post(GRANTED, 1000, "EUR")])


class TestAvailableBalance:
    """C-20: ledger minus holds; zero while pending and once expired; never negative."""

    def available(self, ledger=1000, held=0, *, effective_at=PERIOD_START, expires_at=None, as_of=AS_OF):
        return available_balance(
            ledger=usd(ledger), held=usd(held), effective_at=effective_at, expires_at=expires_at, as_of=as_of
        )

    def test_ledger_minus_holds(self):
        assert self.available(1000, 300) == usd(700)

    def test_without_holds_it_is_the_ledger(self):
        assert self.available(1000) == usd(1000)

    def test_pending_grant_has_nothing_available(self):
        assert self.available(effective_at=AS_OF + timedelta(seconds=1)) == usd(0)

    def test_available_from_the_effective_moment(self):
        assert self.available(effective_at=AS_OF) == usd(1000)

    def test_expired_but_not_posted_takes_the_whole_remaining_ledger(self):
        assert self.available(1000, expires_at=AS_OF) == usd(0)

    def test_available_until_just_before_expiry(self):
        assert self.available(1000, expires_at=AS_OF + timedelta(microseconds=1)) == usd(1000)

    def test_stale_holds_on_an_expired_grant_do_not_go_negative(self):
        assert self.available(0, 400, expires_at=AS_OF) == usd(0)

    def test_holds_beyond_the_ledger_do_not_go_negative(self):
        # A grant voided while a draft held it: the void debit left the ledger at zero.
        assert self.available(0, 400) == usd(0)


class TestInvariant:
    """C-23: granted = ledger + applied - reinstated + expired + voided, nothing negative."""

    def test_a_sound_ledger_has_no_violation(self):
        postings = [post(GRANTED, 1000), post(APPLIED, 600), post(REINSTATED, 200), post(EXPIRED, 600)]
        assert check_invariant(usd(1000), postings) == ()

    def test_granted_must_match_the_grant(self):
        (violation,) = check_invariant(usd(1000), [post(GRANTED, 900)])
        assert violation.code == "GRANTED_MISMATCH"

    def test_granted_twice_is_caught(self):
        (violation,) = check_invariant(usd(1000), [post(GRANTED, 1000), post(GRANTED, 1000)])
        assert violation.code == "GRANTED_MISMATCH"

    def test_overdraft_is_caught(self):
        (violation,) = check_invariant(usd(1000), [post(GRANTED, 1000), post(APPLIED, 1001)])
        assert violation.code == "NEGATIVE_BALANCE"

    def test_a_transient_negative_balance_is_caught(self):
        postings = [post(GRANTED, 1000), post(APPLIED, 1200), post(REINSTATED, 200)]
        assert "NEGATIVE_BALANCE" in {violation.code for violation in check_invariant(usd(1000), postings)}

    def test_reinstating_more_than_applied_is_caught(self):
        postings = [post(GRANTED, 1000), post(APPLIED, 100), post(REINSTATED, 200)]
        (violation,) = check_invariant(usd(1000), postings)
        assert violation.code == "REINSTATED_EXCEEDS_APPLIED"

    def test_foreign_currency_is_caught(self):
        (violation,) = check_invariant(usd(1000), [post(GRANTED, 1000, "EUR")])
        assert violation.code == "CURRENCY_MISMATCH"


@st.composite
def grant_lifecycles(draw):
    """A grant's postings built the way the service may build them: apply what is
    available, reinstate what was applied, then possibly expire or void what is left."""
    amount = draw(st.integers(1, 10_000))
    postings = [post(GRANTED, amount)]
    balance, applied_not_back = amount, 0
    for step in draw(st.lists(st.sampled_from(["apply", "reinstate"]), max_size=12)):
        if step == "apply" and balance:
            drawn = draw(st.integers(1, balance))
            postings.append(post(APPLIED, drawn))
            balance, applied_not_back = balance - drawn, applied_not_back + drawn
        elif step == "reinstate" and applied_not_back:
            back = draw(st.integers(1, applied_not_back))
            postings.append(post(REINSTATED, back))
            balance, applied_not_back = balance + back, applied_not_back - back
    ending = draw(st.sampled_from(["none", "expire", "void"]))
    if ending == "expire" and balance:
        postings.append(post(EXPIRED, balance))
    elif ending == "void" and len(postings) == 1:
        postings.append(post(VOIDED, amount))
    return amount, postings


@given(grant_lifecycles())
def test_every_rule_abiding_lifecycle_keeps_the_invariant(lifecycle):
    amount, postings = lifecycle
    assert check_invariant(usd(amount), postings) == ()
    totals = LedgerTotals.of("USD", postings)
    assert (
        totals.granted
        == totals.ledger_balance + totals.applied - totals.reinstated + totals.expired + totals.voided
    )
    assert not ledger_balance("USD", postings).is_negative()
