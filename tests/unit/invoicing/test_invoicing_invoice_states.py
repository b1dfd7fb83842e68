"""Invoice states as stored: what each shows, the saga steps between, and the figures an
invoice shows of its payment (I-12, I-13)."""

from __future__ import annotations

import re

import pytest

from drawdown.errors import FailedPrecondition
from drawdown.money import Money
from invoicing_service.domain.invoices import (
    InvoiceAction,
    InvoiceState,
    InvoiceStatus,
    completed_state,
    invoice_payment,
    invoice_total,
    started_state,
    states_shown_as,
)
from invoicing_service.store.schema import invoices

STEPS = {InvoiceState.FINALIZING, InvoiceState.VOIDING, InvoiceState.PAYING}


def test_a_saga_step_shows_the_status_its_action_starts_from():
    assert {state: state.shown for state in STEPS} == {
        InvoiceState.FINALIZING: InvoiceStatus.DRAFT,
        InvoiceState.VOIDING: InvoiceStatus.OPEN,
        InvoiceState.PAYING: InvoiceStatus.OPEN,
    }
    for state in set(InvoiceState) - STEPS:
        assert state.shown.value == state.value


def test_only_saga_steps_are_in_flight():
    assert {state for state in InvoiceState if state.in_flight} == STEPS


def test_a_status_filter_matches_the_steps_that_show_it():
    assert states_shown_as(InvoiceStatus.DRAFT) == (InvoiceState.DRAFT, InvoiceState.FINALIZING)
    assert set(states_shown_as(InvoiceStatus.OPEN)) == {
        InvoiceState.OPEN,
        InvoiceState.VOIDING,
        InvoiceState.PAYING,
    }
    assert states_shown_as(InvoiceStatus.PAID) == (InvoiceState.PAID,)


@pytest.mark.parametrize(
    ("current", "action", "started"),
    [
        (InvoiceState.DRAFT, InvoiceAction.FINALIZE, InvoiceState.FINALIZING),
        (InvoiceState.FINALIZING, InvoiceAction.FINALIZE, InvoiceState.FINALIZING),
        (InvoiceState.OPEN, InvoiceAction.VOID, InvoiceState.VOIDING),
        (InvoiceState.VOIDING, InvoiceAction.VOID, InvoiceState.VOIDING),
        (InvoiceState.OPEN, InvoiceAction.PAY, InvoiceState.PAYING),
        (InvoiceState.PAYING, InvoiceAction.PAY, InvoiceState.PAYING),
        (InvoiceState.OPEN, InvoiceAction.MARK_UNCOLLECTIBLE, InvoiceState.UNCOLLECTIBLE),
    ],
)
def test_an_action_starts_with_its_saga_step_and_a_retry_resumes_it(current, action, started):
    assert started_state(current, action) is started


def test_an_action_is_refused_by_the_status_the_invoice_shows():
    with pytest.raises(FailedPrecondition) as raised:
        started_state(InvoiceState.FINALIZING, InvoiceAction.VOID)
    assert raised.value.reason == "INVALID_INVOICE_STATUS"
    assert raised.value.metadata == {"status": "draft", "action": "void"}


@pytest.mark.parametrize(
    ("step", "amount_due", "completed"),
    [
        (InvoiceState.FINALIZING, Money("USD", 500), InvoiceState.OPEN),
        (InvoiceState.FINALIZING, Money("USD", 0), InvoiceState.PAID),
        (InvoiceState.VOIDING, None, InvoiceState.VOID),
        (InvoiceState.PAYING, None, InvoiceState.PAID),
    ],
)
def test_a_saga_step_completes_where_its_action_leads(step, amount_due, completed):
    assert completed_state(step, amount_due=amount_due) is completed


def test_the_total_is_the_subtotal():
    assert invoice_total(Money("USD", 9000)) == Money("USD", 9000)


@pytest.mark.parametrize("state", list(InvoiceState))
def test_a_payment_shows_once_the_invoice_is_paid(state):
    payment = invoice_payment(state, Money("USD", 3000), Money("USD", 3000))
    paid = 3000 if state is InvoiceState.PAID else 0
    assert (payment.amount_paid, payment.amount_remaining) == (Money("USD", paid), Money("USD", 3000 - paid))


def test_the_schema_allows_exactly_the_stored_states():
    (check,) = [c for c in invoices.constraints if c.name == "invoices_status"]
    assert set(re.findall(r"'(\w+)'", str(check.sqltext))) == {state.value for state in InvoiceState}
