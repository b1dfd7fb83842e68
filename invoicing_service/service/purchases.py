"""Credit purchases: a one-off OPEN invoice whose payment creates a paid grant (I-15)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from drawdown import ids
from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.credit_purchases import (
    CreditPurchase,
    check_expiry,
    purchase_line,
    validate_credit_purchase,
    validate_purchase_metadata,
)
from invoicing_service.domain.invoices import BillingReason, InvoiceState
from invoicing_service.domain.periods import Period
from invoicing_service.domain.prices import UsageType
from invoicing_service.service.billing import Billing
from invoicing_service.service.clocks import now_for
from invoicing_service.service.customers import check_clock_at_rest
from invoicing_service.service.drafting import build_invoice
from invoicing_service.store.records import InvoiceRecord, StoredLine
from invoicing_service.store.unit import InvoicingUnit


@dataclass(frozen=True)
class NewCreditPurchase:
    customer_id: str
    amount: Money
    name: str
    priority: int
    price_ids: Sequence[str]
    expire_time: datetime | None
    metadata: Mapping[str, str]


class PurchaseUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create(self, uow: InvoicingUnit, new: NewCreditPurchase) -> InvoiceRecord:
        """The OPEN purchase invoice, checked against the grant rules first (I-15, C-1), so
        that a paid purchase always becomes a grant."""
        purchase = validate_credit_purchase(
            CreditPurchase(new.customer_id, new.amount, new.name, new.priority, tuple(new.price_ids))
        )
        metadata = validate_purchase_metadata(new.metadata)
        customer = await uow.customers.get(new.customer_id)
        if customer.test_clock_id is not None:
            check_clock_at_rest(await uow.test_clocks.get(customer.test_clock_id))
        for index, price_id in enumerate(purchase.applicable_price_ids):
            field = f"applicability_config.prices.price_ids[{index}]"
            price = (await uow.catalog.get_price(price_id, field=field)).price
            if price.usage_type is not UsageType.METERED or price.currency != new.amount.currency:
                raise InvalidArgument.for_field(
                    field,
                    f"must be a metered price in {new.amount.currency}",
                    reason=reasons.INVALID_APPLICABILITY,
                )
        now = await now_for(uow, self._billing.clock, customer.test_clock_id)
        check_expiry(new.expire_time, now)
        line = purchase_line(purchase, line_id=ids.new_id(ids.INVOICE_LINE), at=now)
        invoice = build_invoice(
            customer_id=customer.id,
            subscription_id=None,
            currency=new.amount.currency,
            test_clock_id=customer.test_clock_id,
            billing_reason=BillingReason.CREDIT_PURCHASE,
            period=Period(now, now),
            lines=(StoredLine(line, f"Credits: {purchase.name}", None),),
            status=InvoiceState.OPEN,
            now=now,
            finalize_time=now,
            credit_purchase={
                "name": purchase.name,
                "priority": purchase.priority,
                "price_ids": list(purchase.applicable_price_ids),
                "expire_time": None if new.expire_time is None else new.expire_time.isoformat(),
                "metadata": metadata,
                "credit_grant_id": "",
            },
        )
        await uow.invoices.insert(invoice)
        return invoice
