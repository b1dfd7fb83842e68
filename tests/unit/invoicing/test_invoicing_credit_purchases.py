"""Credit purchases: the one-off invoice and the grant it creates once paid (I-15)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain.credit_purchases import (
    CreditGrantRequest,
    CreditPurchase,
    check_expiry,
    grant_request,
    purchase_line,
    validate_credit_purchase,
)
from invoicing_service.domain.invoices import LineKind, invoice_totals
from invoicing_service.domain.periods import Period

PAID_AT = datetime(2024, 3, 10, 9, tzinfo=UTC)
PURCHASE = CreditPurchase(customer_id="cus_jenny", amount=Money("USD", 1000))


class TestValidation:
    def test_defaults_are_valid(self):
        assert validate_credit_purchase(PURCHASE) is PURCHASE

    @pytest.mark.parametrize(
        ("changes", "reason", "field"),
        [
            ({"amount": Money("USD", 0)}, "INVALID_AMOUNT", "amount"),
            ({"amount": Money("USD", -100)}, "INVALID_AMOUNT", "amount"),
            ({"amount": Money("USD", 10**15)}, "INVALID_AMOUNT", "amount"),
            ({"amount": Money("USD", 92233720368547759 * 100)}, "INVALID_AMOUNT", "amount"),
            ({"name": ""}, "INVALID_NAME", "name"),
            ({"name": "x" * 101}, "INVALID_NAME", "name"),
            ({"priority": -1}, "INVALID_PRIORITY", "priority"),
            ({"priority": 101}, "INVALID_PRIORITY", "priority"),
            (
                {"applicable_price_ids": tuple(f"price_{n}" for n in range(21))},
                "INVALID_APPLICABILITY",
                "applicable_price_ids",
            ),
            (
                {"applicable_price_ids": ("price_a", "price_a")},
                "INVALID_APPLICABILITY",
                "applicable_price_ids",
            ),
        ],
    )
    def test_grant_rules_are_checked_before_invoicing(self, changes, reason, field):
        with pytest.raises(InvalidArgument) as raised:
            validate_credit_purchase(dataclasses.replace(PURCHASE, **changes))
        assert (raised.value.reason, raised.value.metadata["field"]) == (reason, field)

    def test_limits_are_inclusive(self):
        purchase = dataclasses.replace(
            PURCHASE,
            amount=Money("USD", 10**15 - 1),
            name="x" * 100,
            priority=100,
            applicable_price_ids=tuple(f"price_{n}" for n in range(20)),
        )
        assert validate_credit_purchase(purchase) is purchase


def test_the_invoice_has_one_line_for_the_amount_bought():
    line = purchase_line(PURCHASE, line_id="il_1", at=PAID_AT)
    assert line.kind is LineKind.CREDIT_PURCHASE
    assert (line.quantity, line.unit_amount_decimal, line.amount) == (
        Decimal(1),
        Decimal(1000),
        Money("USD", 1000),
    )
    assert line.period == Period(PAID_AT, PAID_AT)
    assert line.price_id is None
    assert invoice_totals("USD", [line]).amount_due == Money("USD", 1000)


def test_an_expiry_must_come_after_the_customers_now():
    check_expiry(None, PAID_AT)
    check_expiry(PAID_AT + timedelta(microseconds=1), PAID_AT)
    with pytest.raises(InvalidArgument) as raised:
        check_expiry(PAID_AT, PAID_AT)
    assert (raised.value.reason, raised.value.metadata["field"]) == ("INVALID_EXPIRY", "expire_time")


class TestGrantRequest:
    def test_a_paid_purchase_requests_a_paid_grant_keyed_by_the_invoice(self):
        request = grant_request(PURCHASE, invoice_id="in_1", paid_at=PAID_AT)
        assert request == CreditGrantRequest(
            request_id="in_1",
            customer_id="cus_jenny",
            amount=Money("USD", 1000),
            name="Purchased credits",
            priority=50,
            applicable_price_ids=(),
            effective_at=PAID_AT,
            expires_at=None,
            metadata={"invoice_id": "in_1"},
        )
        assert request.category == "paid"

    def test_retries_send_the_same_request(self):
        first = grant_request(PURCHASE, invoice_id="in_1", paid_at=PAID_AT)
        again = grant_request(PURCHASE, invoice_id="in_1", paid_at=PAID_AT)
        assert first == again

    def test_the_grant_keeps_the_purchases_expiry_and_metadata_with_the_invoice_id(self):
        expires_at = datetime(2025, 3, 10, 9, tzinfo=UTC)
        purchase = dataclasses.replace(
            PURCHASE, expires_at=expires_at, metadata={"order": "42", "invoice_id": "sent"}
        )
        request = grant_request(purchase, invoice_id="in_1", paid_at=PAID_AT)
        assert request.expires_at == expires_at
        assert request.metadata == {"order": "42", "invoice_id": "in_1"}
