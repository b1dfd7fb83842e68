"""Voiding a finalized invoice gives its credits back (C-15), once (C-14)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from credits_service.domain.drawdown import allocate_credits, plan_reinstatement
from credits_service.domain.grants import GrantState
from credits_service.domain.ledger import Posting, TransactionKind, check_invariant, ledger_balance
from tests.unit.credits.credit_builders import AS_OF, balance, grant, granted, invoice, line, usd

VOIDED_AT = AS_OF + timedelta(days=3)
REINSTATED = TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED


def finalized():
    """An invoice of two lines paid by two grants; cg_a paid parts of both lines."""
    first, second = grant("cg_a", usd(700), priority=0), grant("cg_b", usd(1000), priority=1)
    allocation = allocate_credits(
        invoice(line("il_1", 500), line("il_2", 400)), [balance(first), balance(second)]
    )
    return (first, second), allocation.to_postings(AS_OF)


def test_one_credit_per_grant_of_what_the_invoice_drew():
    _, applied = finalized()
    plan = plan_reinstatement(
        "in_1", applied, {"cg_a": GrantState.DEPLETED, "cg_b": GrantState.AVAILABLE}, VOIDED_AT
    )
    assert plan == (
        Posting(grant_id="cg_a", kind=REINSTATED, amount=usd(700), effective_at=VOIDED_AT, invoice_id="in_1"),
        Posting(grant_id="cg_b", kind=REINSTATED, amount=usd(200), effective_at=VOIDED_AT, invoice_id="in_1"),
    )


def test_credits_of_a_grant_expired_meanwhile_expire_at_once():
    _, applied = finalized()
    plan = plan_reinstatement(
        "in_1", applied, {"cg_a": GrantState.EXPIRED, "cg_b": GrantState.AVAILABLE}, VOIDED_AT
    )
    assert [(p.grant_id, p.kind, p.amount.minor) for p in plan] == [
        ("cg_a", REINSTATED, 700),
        ("cg_a", TransactionKind.CREDITS_EXPIRED, 700),
        ("cg_b", REINSTATED, 200),
    ]


def test_a_retried_void_reinstates_nothing_more():
    _, applied = finalized()
    states = {"cg_a": GrantState.EXPIRED, "cg_b": GrantState.AVAILABLE}
    first_attempt = plan_reinstatement("in_1", applied, states, VOIDED_AT)
    assert plan_reinstatement("in_1", [*applied, *first_attempt], states, VOIDED_AT) == ()


def test_ledgers_stay_sound_and_balances_come_back():
    (first, second), applied = finalized()
    states = {"cg_a": GrantState.EXPIRED, "cg_b": GrantState.AVAILABLE}
    plan = plan_reinstatement("in_1", applied, states, VOIDED_AT)
    for credit_grant, balance_after in [(first, 0), (second, 1000)]:
        postings = [granted(credit_grant), *(p for p in [*applied, *plan] if p.grant_id == credit_grant.id)]
        assert check_invariant(credit_grant.amount, postings) == ()
        assert ledger_balance("USD", postings) == usd(balance_after)


def test_a_voided_grant_with_applied_credits_is_a_bug():
    _, applied = finalized()
    with pytest.raises(ValueError):
        plan_reinstatement(
            "in_1", applied, {"cg_a": GrantState.VOIDED, "cg_b": GrantState.AVAILABLE}, VOIDED_AT
        )


def test_postings_of_another_invoice_are_refused():
    _, applied = finalized()
    with pytest.raises(ValueError):
        plan_reinstatement(
            "in_2", applied, {"cg_a": GrantState.AVAILABLE, "cg_b": GrantState.AVAILABLE}, VOIDED_AT
        )


def test_an_invoice_without_credits_plans_nothing():
    assert plan_reinstatement("in_1", [], {}, VOIDED_AT) == ()
