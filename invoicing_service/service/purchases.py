"""Credit purchases: a one-off OPEN invoice whose payment creates a paid grant (I-15)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from drawdown import ids
from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.balance_watches import Collection
from invoicing_service.domain.credit_purchases import (
    DEFAULT_PRIORITY,
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
from invoicing_service.service.settlement import paying
from invoicing_service.store.records import CustomerRecord, InvoiceRecord, StoredLine
from invoicing_service.store.unit import InvoicingUnit

# What an auto top-up's purchase is called, and the metadata key that marks it.
AUTO_TOP_UP_NAME = "Auto top-up"
AUTO_TOP_UP_METADATA_KEY = "auto_top_up"


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
        invoice = _purchase_invoice(customer, purchase, new.expire_time, metadata, now)
        await uow.invoices.insert(invoice)
        return invoice

    async def create_auto_top_up(
        self,
        uow: InvoicingUnit,
        customer: CustomerRecord,
        amount: Money,
        collection: Collection,
        now: datetime,
    ) -> InvoiceRecord:
        """R-6: the purchase an auto top-up makes, of credits for every metered price, in
        the unit of work that disarms the top-up. Made as the balance is evaluated, also
        while the customer's clock advances (the advance evaluates it), so the clock is
        not checked for rest. Collected ``paid``, it is stored already paying: its grant
        is created by ``Settlement.grant_and_complete`` after the commit, or by the
        recovery sweep if that is cut short."""
        purchase = CreditPurchase(customer.id, amount, AUTO_TOP_UP_NAME, DEFAULT_PRIORITY, ())
        invoice = _purchase_invoice(customer, purchase, None, {AUTO_TOP_UP_METADATA_KEY: "true"}, now)
        if collection is Collection.PAID:
            invoice = paying(invoice, now)
        await uow.invoices.insert(invoice)
        return invoice


def _purchase_invoice(
    customer: CustomerRecord,
    purchase: CreditPurchase,
    expire_time: datetime | None,
    metadata: Mapping[str, str],
    now: datetime,
) -> InvoiceRecord:
    """The OPEN one-off invoice of a purchase (I-15)."""
    line = purchase_line(purchase, line_id=ids.new_id(ids.INVOICE_LINE), at=now)
    return build_invoice(
        customer_id=customer.id,
        subscription_id=None,
        currency=purchase.amount.currency,
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
            "expire_time": None if expire_time is None else expire_time.isoformat(),
            "metadata": dict(metadata),
            "credit_grant_id": "",
        },
    )
