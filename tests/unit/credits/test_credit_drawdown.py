"""The draw-down engine: eligibility (C-10), grant order (C-11), line order (C-12)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from credits_service.domain.drawdown import (
    CreditApplication,
    GrantBalance,
    Invoice,
    InvoiceLine,
    allocate_credits,
    grant_order_key,
    is_eligible,
)
from credits_service.domain.grants import Applicability, GrantCategory
from credits_service.domain.ledger import Posting, TransactionKind
from drawdown.money import Money
from tests.unit.credits.credit_builders import (
    AS_OF,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    PERIOD_END,
    PERIOD_START,
    balance,
    grant,
    invoice,
    line,
    usd,
)


def drawn(allocation) -> list[tuple[str, str, int]]:
    return [(a.line_id, a.grant_id, a.amount.minor) for a in allocation.applications]


def test_running_example_hypernian():
    """3,000 input tokens at 3 ¢: a 90.00 line, 10.00 credits applied, 80.00 due, grant empty."""
    jenny = grant("cg_prepaid", usd(1000))
    usage = line("il_input", 9000)
    allocation = allocate_credits(invoice(usage), [balance(jenny)])
    assert allocation.total == usd(1000)
    assert usage.amount - allocation.credited_to_line("il_input") == usd(8000)
    assert allocation.per_grant == {"cg_prepaid": usd(1000)}


class TestGrantOrder:
    """C-11: each key decides alone when every other key ties.

    Both grants could pay the whole line; the one that comes first pays it all. The
    winner is always listed last, so input order cannot be what decides.
    """

    def winner(self, first, second):
        allocation = allocate_credits(invoice(line("il_1", 500)), [balance(second), balance(first)])
        return [a.grant_id for a in allocation.applications]

    def test_lower_priority_number_first(self):
        assert self.winner(grant("cg_b", priority=10), grant("cg_a", priority=11)) == ["cg_b"]

    def test_earlier_expiry_first(self):
        soon = grant("cg_b", expires_at=AS_OF + timedelta(days=1))
        late = grant("cg_a", expires_at=AS_OF + timedelta(days=2))
        assert self.winner(soon, late) == ["cg_b"]

    def test_no_expiry_last(self):
        assert self.winner(grant("cg_b", expires_at=AS_OF + timedelta(days=365)), grant("cg_a")) == ["cg_b"]

    def test_promotional_before_paid(self):
        promotional = grant("cg_b", category=GrantCategory.PROMOTIONAL)
        paid = grant("cg_a", category=GrantCategory.PAID)
        assert self.winner(promotional, paid) == ["cg_b"]

    def test_earlier_effective_at_first(self):
        older = grant("cg_b", effective_at=PERIOD_START)
        newer = grant("cg_a", effective_at=PERIOD_START + timedelta(seconds=1))
        assert self.winner(older, newer) == ["cg_b"]

    def test_earlier_created_at_first(self):
        older = grant("cg_b", created_at=PERIOD_START)
        newer = grant("cg_a", created_at=PERIOD_START + timedelta(seconds=1))
        assert self.winner(older, newer) == ["cg_b"]

    def test_smaller_id_last_resort(self):
        assert self.winner(grant("cg_a"), grant("cg_b")) == ["cg_a"]

    def test_keys_apply_in_rule_order(self):
        # Priority beats an earlier expiry; expiry beats category.
        urgent_but_low = grant("cg_1", priority=60, expires_at=AS_OF + timedelta(days=1))
        high = grant("cg_2", priority=40)
        expiring_paid = grant("cg_3", priority=40, expires_at=AS_OF + timedelta(days=1))
        promotional = grant("cg_4", priority=40, category=GrantCategory.PROMOTIONAL)
        ordered = sorted([urgent_but_low, high, expiring_paid, promotional], key=grant_order_key)
        assert [g.id for g in ordered] == ["cg_3", "cg_4", "cg_2", "cg_1"]

    def test_the_next_grant_takes_over_when_the_first_runs_out(self):
        first, second = grant("cg_a", usd(300), priority=1), grant("cg_b", usd(500), priority=2)
        allocation = allocate_credits(invoice(line("il_1", 1000)), [balance(second), balance(first)])
        assert drawn(allocation) == [("il_1", "cg_a", 300), ("il_1", "cg_b", 500)]


class TestEligibility:
    """C-10, one condition at a time: the grant pays the line or it does not."""

    def pays(self, credit_grant=None, *, available=None, invoice_changes=None, **line_fields) -> bool:
        fields = {"line_id": "il_1", "amount": 500, **line_fields}
        bill = invoice(line(**fields), **(invoice_changes or {}))
        the_balance = balance(credit_grant or grant(), available)
        assert is_eligible(the_balance, bill, bill.lines[0]) == bool(
            allocate_credits(bill, [the_balance]).applications
        )
        return is_eligible(the_balance, bill, bill.lines[0])

    def test_the_plain_case_pays(self):
        assert self.pays()

    def test_effective_at_the_period_end_pays(self):
        assert self.pays(grant(effective_at=PERIOD_END))

    def test_effective_after_the_period_end_does_not(self):
        assert not self.pays(grant(effective_at=PERIOD_END + timedelta(seconds=1)))

    def test_expiring_after_the_period_end_pays(self):
        assert self.pays(grant(expires_at=AS_OF + timedelta(days=1)))

    def test_expiring_at_the_period_end_does_not(self):
        assert not self.pays(grant(expires_at=PERIOD_END))

    def test_a_preview_does_not_use_a_grant_expiring_at_the_period_end(self):
        # Live at as_of, but gone by the time the period it would pay for ends.
        preview = {"as_of": PERIOD_END - timedelta(days=10)}
        assert not self.pays(grant(expires_at=PERIOD_END), invoice_changes=preview)

    def test_a_preview_uses_a_grant_expiring_after_the_period_end(self):
        preview = {"as_of": PERIOD_END - timedelta(days=10)}
        assert self.pays(grant(expires_at=PERIOD_END + timedelta(microseconds=1)), invoice_changes=preview)

    def test_expiring_during_the_grace_period_does_not(self):
        # The period ended before expiry, but at as_of the grant has nothing left (C-20).
        assert not self.pays(grant(expires_at=PERIOD_END + timedelta(minutes=30)))

    def test_pending_at_as_of_does_not(self):
        # A preview read before the grant takes effect, though within the period.
        preview = {"as_of": PERIOD_END - timedelta(days=10)}
        assert not self.pays(grant(effective_at=PERIOD_END - timedelta(days=5)), invoice_changes=preview)

    def test_another_currency_does_not(self):
        assert not self.pays(grant(amount=Money("EUR", 1000)))

    def test_a_licensed_line_does_not_get_credits(self):
        assert not self.pays(metered=False)

    def test_a_price_in_the_scope_pays(self):
        assert self.pays(grant(applicability=Applicability.only_prices(OUTPUT_TOKENS, INPUT_TOKENS)))

    def test_a_price_outside_the_scope_does_not(self):
        assert not self.pays(grant(applicability=Applicability.only_prices(OUTPUT_TOKENS)))

    def test_a_grant_with_nothing_available_does_not(self):
        assert not self.pays(available=0)

    def test_a_voided_grant_does_not(self):
        assert not self.pays(grant(voided_at=PERIOD_START), available=1000)

    def test_zero_balance_grants_are_skipped_for_the_next(self):
        empty, funded = grant("cg_a", priority=0), grant("cg_b", priority=1)
        allocation = allocate_credits(invoice(line("il_1", 500)), [balance(empty, 0), balance(funded)])
        assert drawn(allocation) == [("il_1", "cg_b", 500)]

    def test_ineligible_lines_are_skipped_for_the_next(self):
        scoped = grant(applicability=Applicability.only_prices(OUTPUT_TOKENS))
        bill = invoice(line("il_in", 500, INPUT_TOKENS), line("il_out", 700, OUTPUT_TOKENS))
        assert drawn(allocate_credits(bill, [balance(scoped)])) == [("il_out", "cg_1", 700)]


class TestLineOrder:
    """C-12: a grant pays lines in invoice order, and no line goes below zero."""

    def test_a_grant_pays_lines_in_invoice_order(self):
        # Line ids sort the other way round, so only the invoice order can explain the result.
        bill = invoice(line("il_b", 500), line("il_a", 500))
        assert drawn(allocate_credits(bill, [balance(grant(amount=usd(700)))])) == [
            ("il_b", "cg_1", 500),
            ("il_a", "cg_1", 200),
        ]

    def test_a_line_is_credited_at_most_its_amount(self):
        allocation = allocate_credits(invoice(line("il_1", 250)), [balance(grant())])
        assert allocation.credited_to_line("il_1") == usd(250)

    @pytest.mark.parametrize("amount", [0, -300])
    def test_zero_and_negative_lines_get_nothing(self, amount):
        bill = invoice(line("il_credit", amount), line("il_usage", 400))
        allocation = allocate_credits(bill, [balance(grant())])
        assert drawn(allocation) == [("il_usage", "cg_1", 400)]
        assert allocation.credited_to_line("il_credit") == usd(0)

    def test_a_negative_line_does_not_free_credits_for_others(self):
        bill = invoice(line("il_1", 800), line("il_2", -500), line("il_3", 800))
        allocation = allocate_credits(bill, [balance(grant())])
        assert allocation.total == usd(1000)

    def test_a_scoped_grant_first_then_a_broad_one(self):
        # Grant order, not line order, decides who pays: cg_a (scoped) pays il_2, cg_b the rest.
        scoped = grant("cg_a", usd(500), priority=0, applicability=Applicability.only_prices(OUTPUT_TOKENS))
        broad = grant("cg_b", usd(1000), priority=1)
        bill = invoice(line("il_1", 600, INPUT_TOKENS), line("il_2", 800, OUTPUT_TOKENS))
        assert drawn(allocate_credits(bill, [balance(broad), balance(scoped)])) == [
            ("il_1", "cg_b", 600),
            ("il_2", "cg_a", 500),
            ("il_2", "cg_b", 300),
        ]


class TestExactAmounts:
    def test_single_cents(self):
        bill = invoice(line("il_1", 1), line("il_2", 2), line("il_3", 3))
        allocation = allocate_credits(bill, [balance(grant(amount=usd(4)))])
        assert drawn(allocation) == [("il_1", "cg_1", 1), ("il_2", "cg_1", 2), ("il_3", "cg_1", 1)]

    def test_split_to_the_cent(self):
        first, second = grant("cg_a", usd(3333), priority=0), grant("cg_b", usd(3333), priority=1)
        allocation = allocate_credits(invoice(line("il_1", 9999)), [balance(first), balance(second)])
        assert allocation.total == usd(6666)
        assert allocation.credited_to_line("il_1") == usd(6666)

    def test_zero_decimal_currency(self):
        yen = grant(amount=Money("JPY", 1500))
        bill = Invoice(
            id="in_1",
            customer_id=yen.customer_id,
            currency="JPY",
            period_end=PERIOD_END,
            as_of=AS_OF,
            lines=(
                InvoiceLine(
                    line_id="il_1",
                    price_id=INPUT_TOKENS,
                    amount=Money("JPY", 999),
                    is_metered_subscription_line=True,
                ),
            ),
        )
        assert allocate_credits(bill, [balance(yen)]).total == Money("JPY", 999)


class TestAllocationResult:
    def allocation(self):
        first, second = grant("cg_a", usd(700), priority=0), grant("cg_b", usd(1000), priority=1)
        bill = invoice(line("il_1", 500), line("il_2", 400), line("il_3", 100, metered=False))
        return allocate_credits(bill, [balance(first), balance(second)])

    def test_applications_per_line_per_grant_and_total(self):
        allocation = self.allocation()
        assert allocation.applications == (
            CreditApplication("il_1", "cg_a", usd(500)),
            CreditApplication("il_2", "cg_a", usd(200)),
            CreditApplication("il_2", "cg_b", usd(200)),
        )
        assert allocation.per_line == {"il_1": usd(500), "il_2": usd(400)}
        assert allocation.per_grant == {"cg_a": usd(700), "cg_b": usd(200)}
        assert allocation.total == usd(900)
        assert allocation.credited_to_line("il_3") == usd(0)

    def test_postings_are_one_debit_per_grant_per_line(self):
        """C-13."""
        postings = self.allocation().to_postings(AS_OF)
        assert postings[1] == Posting(
            grant_id="cg_a",
            kind=TransactionKind.CREDITS_APPLIED,
            amount=usd(200),
            effective_at=AS_OF,
            invoice_id="in_1",
            invoice_line_id="il_2",
        )
        assert [(p.grant_id, p.invoice_line_id) for p in postings] == [
            ("cg_a", "il_1"),
            ("cg_a", "il_2"),
            ("cg_b", "il_2"),
        ]

    def test_no_grants_no_credits(self):
        allocation = allocate_credits(invoice(line("il_1", 500)), [])
        assert (allocation.applications, allocation.total) == ((), usd(0))


class TestInconsistentInput:
    """Caller bugs are loud, never a silently wrong allocation."""

    def test_another_customers_grant(self):
        with pytest.raises(ValueError):
            allocate_credits(invoice(line("il_1", 1)), [balance(grant(customer_id="cus_other"))])

    def test_the_same_grant_twice(self):
        with pytest.raises(ValueError):
            allocate_credits(invoice(line("il_1", 1)), [balance(grant()), balance(grant())])

    def test_the_same_line_twice(self):
        with pytest.raises(ValueError):
            allocate_credits(invoice(line("il_1", 1), line("il_1", 2)), [])

    def test_a_line_in_another_currency(self):
        euro_line = InvoiceLine(
            line_id="il_1", price_id=INPUT_TOKENS, amount=Money("EUR", 1), is_metered_subscription_line=True
        )
        with pytest.raises(ValueError):
            allocate_credits(invoice(euro_line), [])

    def test_a_balance_in_another_currency_than_its_grant(self):
        with pytest.raises(ValueError):
            allocate_credits(invoice(line("il_1", 1)), [GrantBalance(grant(), Money("EUR", 1))])
