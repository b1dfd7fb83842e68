"""Subscriptions and invoices in the invoicing schema (I-3, I-10..I-15).

The scheduler claims due work here with ``FOR UPDATE SKIP LOCKED``: every replica may
run it, and each row is worked on by one of them at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.errors import NotFound
from drawdown.events.outbox import Outbox
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.invoices import (
    BillingReason,
    InvoiceLine,
    InvoiceState,
    InvoiceStatus,
    LineKind,
    event_types,
    states_shown_as,
)
from invoicing_service.domain.periods import Period
from invoicing_service.domain.subscriptions import SubscriptionItem, SubscriptionStatus
from invoicing_service.store.catalog import price_from_row
from invoicing_service.store.records import (
    BillingErrorRecord,
    CreditApplicationRecord,
    InvoiceRecord,
    LineCredit,
    StoredLine,
    SubscriptionRecord,
)
from invoicing_service.store.schema import invoice_lines, invoices, prices, subscription_items, subscriptions

# Invoices mid-saga, which the recovery sweep completes (the invoices_in_flight index).
_IN_FLIGHT = [state.value for state in InvoiceState if state.in_flight]
# A draft, or one whose finalization has started.
_DRAFTS = [state.value for state in states_shown_as(InvoiceStatus.DRAFT)]


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _error_values(error: BillingErrorRecord | None) -> dict[str, Any]:
    return {
        "billing_error_reason": None if error is None else error.reason,
        "billing_error_message": None if error is None else error.message,
        "billing_error_time": None if error is None else error.time,
    }


def _error(row: Any) -> BillingErrorRecord | None:
    if row.billing_error_reason is None:
        return None
    return BillingErrorRecord(
        row.billing_error_reason, row.billing_error_message or "", row.billing_error_time
    )


def _billable(table: sa.Table, retry_before: datetime) -> sa.ColumnElement[bool]:
    """Rows not set aside, or set aside before ``retry_before`` (X-6: retried now and then)."""
    return sa.or_(table.c.billing_error_time.is_(None), table.c.billing_error_time <= retry_before)


async def _set_aside(
    session: AsyncSession, table: sa.Table, errors: Mapping[str, BillingErrorRecord]
) -> None:
    if errors:
        await session.execute(
            sa.update(table).where(table.c.id == sa.bindparam("b_id")),
            [{"b_id": row_id, **_error_values(error)} for row_id, error in errors.items()],
        )


class SubscriptionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert(self, record: SubscriptionRecord) -> None:
        await self._session.execute(
            sa.insert(subscriptions).values(
                id=record.id,
                customer_id=record.customer_id,
                currency=record.currency,
                interval=record.items[0].price.interval.value,
                interval_count=record.items[0].price.interval_count,
                billing_cycle_anchor=record.billing_cycle_anchor,
                current_period_start=record.current_period.start,
                current_period_end=record.current_period.end,
                status=record.status.value,
                cancel_at_period_end=record.cancel_at_period_end,
                cancel_time=record.cancel_time,
                grace_period_seconds=_seconds(record.grace_period),
                latest_invoice_id=record.latest_invoice_id,
                test_clock_id=record.test_clock_id,
                deleted=False,
                create_time=record.create_time,
                update_time=record.update_time,
                **_error_values(record.billing_error),
            )
        )
        await self._session.execute(
            sa.insert(subscription_items),
            [
                {
                    "id": item.id,
                    "subscription_id": record.id,
                    "position": position,
                    "price_id": item.price_id,
                    "quantity": item.quantity,
                }
                for position, item in enumerate(record.items)
            ],
        )

    async def get(self, subscription_id: str, *, for_update: bool = False) -> SubscriptionRecord:
        query = sa.select(subscriptions).where(
            subscriptions.c.id == subscription_id, ~subscriptions.c.deleted
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"subscription {subscription_id} does not exist",
                reason=reasons.SUBSCRIPTION_NOT_FOUND,
                metadata={"id": subscription_id},
            )
        return (await self._records([row]))[0]

    async def get_many(self, subscription_ids: Iterable[str]) -> dict[str, SubscriptionRecord]:
        """The subscriptions, by id; NOT_FOUND if one does not exist."""
        wanted = set(subscription_ids)
        rows = (
            await self._session.execute(
                sa.select(subscriptions).where(subscriptions.c.id.in_(list(wanted)), ~subscriptions.c.deleted)
            )
        ).all()
        found = {record.id: record for record in await self._records(rows)}
        for subscription_id in wanted - found.keys():
            raise NotFound(
                f"subscription {subscription_id} does not exist",
                reason=reasons.SUBSCRIPTION_NOT_FOUND,
                metadata={"id": subscription_id},
            )
        return found

    async def list(
        self, *, customer_id: str, status: str | None, price_id: str, after: Sequence[Any] | None, limit: int
    ) -> list[SubscriptionRecord]:
        query = sa.select(subscriptions).where(~subscriptions.c.deleted)
        if customer_id:
            query = query.where(subscriptions.c.customer_id == customer_id)
        if status:
            query = query.where(subscriptions.c.status == status)
        if price_id:
            query = query.where(
                subscriptions.c.id.in_(
                    sa.select(subscription_items.c.subscription_id).where(
                        subscription_items.c.price_id == price_id
                    )
                )
            )
        if after is not None:
            query = query.where(subscriptions.c.id < after[0])
        rows = (await self._session.execute(query.order_by(subscriptions.c.id.desc()).limit(limit))).all()
        return await self._records(rows)

    async def active_of_customer(self, customer_id: str) -> list[SubscriptionRecord]:
        rows = (
            await self._session.execute(
                sa.select(subscriptions)
                .where(subscriptions.c.customer_id == customer_id, subscriptions.c.status == "active")
                .order_by(subscriptions.c.id)
            )
        ).all()
        return await self._records(rows)

    async def active_on_clock(self, clock_id: str) -> list[SubscriptionRecord]:
        rows = (
            await self._session.execute(
                sa.select(subscriptions)
                .where(subscriptions.c.test_clock_id == clock_id, subscriptions.c.status == "active")
                .order_by(subscriptions.c.id)
            )
        ).all()
        return await self._records(rows)

    async def claim_due(self, now: datetime, limit: int, retry_before: datetime) -> list[SubscriptionRecord]:
        """Up to ``limit`` wall-clock subscriptions whose current period has ended, locked
        for this transaction and skipped by every other replica; one set aside (X-6) only
        once it was set aside before ``retry_before``."""
        rows = (
            await self._session.execute(
                sa.select(subscriptions)
                .where(
                    subscriptions.c.status == "active",
                    ~subscriptions.c.deleted,
                    subscriptions.c.test_clock_id.is_(None),
                    subscriptions.c.current_period_end <= now,
                    _billable(subscriptions, retry_before),
                )
                .order_by(subscriptions.c.current_period_end, subscriptions.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return await self._records(rows)

    async def update(self, subscription_id: str, **values: Any) -> None:
        await self._session.execute(
            sa.update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values)
        )

    async def set_aside(self, errors: Mapping[str, BillingErrorRecord]) -> None:
        """Record why each subscription (by id) could not be billed (X-6)."""
        await _set_aside(self._session, subscriptions, errors)

    async def update_many(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Apply each subscription's column changes (by subscription id), one statement per
        set of changed columns."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for subscription_id, values in changes.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({**values, "b_id": subscription_id})
        for rows in by_columns.values():
            await self._session.execute(
                sa.update(subscriptions).where(subscriptions.c.id == sa.bindparam("b_id")), rows
            )

    async def _records(self, rows: Sequence[Any]) -> list[SubscriptionRecord]:
        if not rows:
            return []
        item_rows = (
            await self._session.execute(
                sa.select(subscription_items, prices)
                .join(prices, prices.c.id == subscription_items.c.price_id)
                .where(subscription_items.c.subscription_id.in_([row.id for row in rows]))
                .order_by(subscription_items.c.subscription_id, subscription_items.c.position)
            )
        ).all()
        items: dict[str, list[SubscriptionItem]] = {}
        for item in item_rows:
            items.setdefault(item.subscription_id, []).append(
                SubscriptionItem(
                    id=item._mapping[subscription_items.c.id],
                    price_id=item.price_id,
                    price=price_from_row(_PriceRow(item)),
                    quantity=item.quantity,
                )
            )
        return [
            SubscriptionRecord(
                id=row.id,
                customer_id=row.customer_id,
                items=tuple(items[row.id]),
                currency=row.currency,
                billing_cycle_anchor=row.billing_cycle_anchor,
                current_period=Period(row.current_period_start, row.current_period_end),
                status=SubscriptionStatus(row.status),
                cancel_at_period_end=row.cancel_at_period_end,
                cancel_time=row.cancel_time,
                grace_period=None
                if row.grace_period_seconds is None
                else timedelta(seconds=row.grace_period_seconds),
                latest_invoice_id=row.latest_invoice_id,
                test_clock_id=row.test_clock_id,
                create_time=row.create_time,
                update_time=row.update_time,
                billing_error=_error(row),
            )
            for row in rows
        ]


class _PriceRow:
    """The price columns of a subscription_items ⋈ prices row, by name."""

    def __init__(self, row: Any) -> None:
        self._mapping = row._mapping

    def __getattr__(self, name: str) -> Any:
        return self._mapping[prices.c[name]]


def _credits_to_json(credits: Iterable[LineCredit]) -> list[dict[str, Any]]:
    return [{"grant": c.grant_id, "amount": c.amount, "txn": c.transaction_id} for c in credits]


def _applications_to_json(applications: Iterable[CreditApplicationRecord]) -> list[dict[str, Any]]:
    return [
        {
            "grant": a.grant_id,
            "amount": a.amount,
            "txns": list(a.transaction_ids),
            "reinstate": a.reinstate_transaction_id,
        }
        for a in applications
    ]


def _line_values(invoice_id: str, position: int, stored: StoredLine) -> dict[str, Any]:
    line = stored.line
    return {
        "id": line.id,
        "invoice_id": invoice_id,
        "position": position,
        "kind": line.kind.value,
        "description": stored.description,
        "price_id": line.price_id,
        "subscription_item_id": line.subscription_item_id,
        "quantity": line.quantity,
        "usage_quantity": stored.usage_quantity,
        "unit_amount_decimal": line.unit_amount_decimal,
        "amount": line.amount.minor,
        "period_start": line.period.start,
        "period_end": line.period.end,
        "credits": _credits_to_json(stored.credits),
        "credits_applied": stored.credits_applied,
    }


def _mutable_values(record: InvoiceRecord) -> dict[str, Any]:
    """The columns of an invoice that change over its life."""
    return {
        "status": record.status.value,
        "subtotal": record.subtotal,
        "total_credits_applied": record.total_credits_applied,
        "amount_due": record.amount_due,
        "amount_paid": record.amount_paid,
        "credit_applications": _applications_to_json(record.credit_applications),
        "auto_finalize_time": record.auto_finalize_time,
        "finalize_time": record.finalize_time,
        "paid_time": record.paid_time,
        "void_time": record.void_time,
        "uncollectible_time": record.uncollectible_time,
        "credit_purchase": None if record.credit_purchase is None else dict(record.credit_purchase),
        "update_time": record.update_time,
        **_error_values(record.billing_error),
    }


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).normalize()


class InvoiceStore:
    """Invoices and their lines. Writing an invoice records the events its change of
    status calls for (``domain.invoices.event_types``) in the unit's outbox: the states
    it was read in are remembered, so every write knows the change it makes."""

    def __init__(self, session: AsyncSession, outbox: Outbox | None = None) -> None:
        self._session = session
        self._outbox = outbox
        self._read: dict[str, InvoiceState] = {}

    def _record_events(self, records: Sequence[InvoiceRecord], *, new: bool) -> None:
        for record in records:
            before = None if new else self._read.get(record.id)
            if not new and before is None:
                raise RuntimeError(f"invoice {record.id} is written without having been read in this unit")
            self._read[record.id] = record.status
            if self._outbox is None:
                continue
            for event_type in event_types(
                before, record.status, credit_purchase=record.credit_purchase is not None
            ):
                self._outbox.record(
                    event_type,
                    record,
                    customer_id=record.customer_id,
                    test_clock_id=record.test_clock_id or "",
                )

    async def insert(self, record: InvoiceRecord) -> None:
        await self.insert_many([record])

    async def insert_many(self, records: Sequence[InvoiceRecord]) -> None:
        if not records:
            return
        self._record_events(records, new=True)
        await self._session.execute(
            sa.insert(invoices),
            [
                {
                    "id": record.id,
                    "customer_id": record.customer_id,
                    "subscription_id": record.subscription_id,
                    "billing_reason": record.billing_reason,
                    "currency": record.currency,
                    "period_start": record.period.start,
                    "period_end": record.period.end,
                    "test_clock_id": record.test_clock_id,
                    "deleted": False,
                    "create_time": record.create_time,
                    **_mutable_values(record),
                }
                for record in records
            ],
        )
        await self._insert_lines(records)

    async def _insert_lines(self, records: Sequence[InvoiceRecord]) -> None:
        rows = [
            _line_values(record.id, position, line)
            for record in records
            for position, line in enumerate(record.lines)
        ]
        if rows:
            await self._session.execute(sa.insert(invoice_lines), rows)

    async def save(self, record: InvoiceRecord) -> None:
        """Write a changed invoice back: its lines (replaced) and every mutable column."""
        await self.save_many([record])

    async def save_many(self, records: Sequence[InvoiceRecord]) -> None:
        """``save`` for many invoices, in a few statements."""
        if not records:
            return
        self._record_events(records, new=False)
        await self._session.execute(
            sa.delete(invoice_lines).where(invoice_lines.c.invoice_id.in_([r.id for r in records]))
        )
        await self._insert_lines(records)
        await self._session.execute(
            sa.update(invoices).where(invoices.c.id == sa.bindparam("b_id")).values(touched_at=sa.func.now()),
            [{"b_id": record.id, **_mutable_values(record)} for record in records],
        )

    async def get(self, invoice_id: str, *, for_update: bool = False) -> InvoiceRecord:
        query = sa.select(invoices).where(invoices.c.id == invoice_id, ~invoices.c.deleted)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"invoice {invoice_id} does not exist",
                reason=reasons.INVOICE_NOT_FOUND,
                metadata={"id": invoice_id},
            )
        return (await self._records([row]))[0]

    async def get_many(self, invoice_ids: Sequence[str]) -> list[InvoiceRecord]:
        """The invoices that exist among ``invoice_ids``, in id order."""
        if not invoice_ids:
            return []
        query = (
            sa.select(invoices)
            .where(invoices.c.id.in_(list(invoice_ids)), ~invoices.c.deleted)
            .order_by(invoices.c.id)
        )
        return await self._records((await self._session.execute(query)).all())

    async def lock(self, invoice_ids: Sequence[str]) -> dict[str, InvoiceState]:
        """Lock the invoices' rows, in id order; each one's stored status, by id."""
        if not invoice_ids:
            return {}
        rows = await self._session.execute(
            sa.select(invoices.c.id, invoices.c.status)
            .where(invoices.c.id.in_(list(invoice_ids)))
            .order_by(invoices.c.id)
            .with_for_update()
        )
        statuses = {row.id: InvoiceState(row.status) for row in rows}
        self._read.update(statuses)
        return statuses

    async def list(
        self,
        *,
        customer_id: str,
        subscription_id: str,
        statuses: Sequence[InvoiceState],
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[InvoiceRecord]:
        query = sa.select(invoices).where(~invoices.c.deleted)
        if customer_id:
            query = query.where(invoices.c.customer_id == customer_id)
        if subscription_id:
            query = query.where(invoices.c.subscription_id == subscription_id)
        if statuses:
            query = query.where(invoices.c.status.in_([state.value for state in statuses]))
        if after is not None:
            query = query.where(invoices.c.id < after[0])
        rows = (await self._session.execute(query.order_by(invoices.c.id.desc()).limit(limit))).all()
        return await self._records(rows)

    async def claim_due_drafts(
        self, now: datetime, limit: int, retry_before: datetime
    ) -> list[InvoiceRecord]:
        """Up to ``limit`` wall-clock drafts past their auto-finalize time, locked, skipped
        by other replicas; one set aside (X-6) only once set aside before ``retry_before``."""
        rows = (
            await self._session.execute(
                sa.select(invoices)
                .where(
                    invoices.c.status == InvoiceState.DRAFT.value,
                    ~invoices.c.deleted,
                    invoices.c.test_clock_id.is_(None),
                    invoices.c.auto_finalize_time <= now,
                    _billable(invoices, retry_before),
                )
                .order_by(invoices.c.auto_finalize_time, invoices.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return await self._records(rows)

    async def claim_in_flight(
        self, older_than: timedelta, exclude: Sequence[str], retry_before: datetime
    ) -> str | None:
        """One invoice stuck mid-saga (finalizing, voiding, paying) and untouched for
        ``older_than`` of wall-clock time, locked, skipped by others; one set aside (X-6)
        only once set aside before ``retry_before``."""
        query = (
            sa.select(invoices.c.id)
            .where(
                invoices.c.status.in_(_IN_FLIGHT),
                invoices.c.touched_at <= sa.func.now() - older_than,
                _billable(invoices, retry_before),
            )
            .order_by(invoices.c.touched_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if exclude:
            query = query.where(invoices.c.id.not_in(list(exclude)))
        return (await self._session.execute(query)).scalar()

    async def set_aside(self, errors: Mapping[str, BillingErrorRecord]) -> None:
        """Record why each invoice (by id) could not be finalized (X-6)."""
        await _set_aside(self._session, invoices, errors)

    async def drafts_on_clock(self, clock_id: str) -> list[tuple[str, str, Period, datetime]]:
        """(invoice id, subscription id, period, auto-finalize time) of a clock's drafts."""
        rows = await self._session.execute(
            sa.select(invoices)
            .where(invoices.c.test_clock_id == clock_id, invoices.c.status.in_(_DRAFTS))
            .order_by(invoices.c.auto_finalize_time)
        )
        return [
            (row.id, row.subscription_id, Period(row.period_start, row.period_end), row.auto_finalize_time)
            for row in rows
        ]

    async def draft_of_period(self, subscription_id: str, period: Period) -> str:
        """The draft (or finalizing) invoice of a subscription period."""
        return (
            await self._session.execute(
                sa.select(invoices.c.id).where(
                    invoices.c.subscription_id == subscription_id,
                    invoices.c.period_start == period.start,
                    invoices.c.period_end == period.end,
                    invoices.c.status.in_(_DRAFTS),
                )
            )
        ).scalar_one()

    async def _records(self, rows: Sequence[Any]) -> list[InvoiceRecord]:
        if not rows:
            return []
        line_rows = (
            await self._session.execute(
                sa.select(invoice_lines)
                .where(invoice_lines.c.invoice_id.in_([row.id for row in rows]))
                .order_by(invoice_lines.c.invoice_id, invoice_lines.c.position)
            )
        ).all()
        lines: dict[str, list[StoredLine]] = {}
        currencies = {row.id: row.currency for row in rows}
        for line in line_rows:
            lines.setdefault(line.invoice_id, []).append(_stored_line(line, currencies[line.invoice_id]))
        records = [_invoice(row, tuple(lines.get(row.id, ()))) for row in rows]
        self._read.update((record.id, record.status) for record in records)
        return records


def _stored_line(row: Any, currency: str) -> StoredLine:
    return StoredLine(
        line=InvoiceLine(
            id=row.id,
            kind=LineKind(row.kind),
            period=Period(row.period_start, row.period_end),
            quantity=Decimal(row.quantity).normalize(),
            unit_amount_decimal=_decimal(row.unit_amount_decimal),
            amount=Money(currency, row.amount),
            price_id=row.price_id,
            subscription_item_id=row.subscription_item_id,
        ),
        description=row.description,
        usage_quantity=_decimal(row.usage_quantity),
        credits=tuple(LineCredit(c["grant"], c["amount"], c["txn"]) for c in row.credits),
    )


def _invoice(row: Any, lines: tuple[StoredLine, ...]) -> InvoiceRecord:
    applications: Iterable[Mapping[str, Any]] = row.credit_applications
    return InvoiceRecord(
        id=row.id,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        status=InvoiceState(row.status),
        billing_reason=BillingReason(row.billing_reason),
        currency=row.currency,
        period=Period(row.period_start, row.period_end),
        lines=lines,
        subtotal=row.subtotal,
        total_credits_applied=row.total_credits_applied,
        amount_due=row.amount_due,
        amount_paid=row.amount_paid,
        credit_applications=tuple(
            CreditApplicationRecord(a["grant"], a["amount"], tuple(a["txns"]), a["reinstate"])
            for a in applications
        ),
        auto_finalize_time=row.auto_finalize_time,
        finalize_time=row.finalize_time,
        paid_time=row.paid_time,
        void_time=row.void_time,
        uncollectible_time=row.uncollectible_time,
        credit_purchase=row.credit_purchase,
        test_clock_id=row.test_clock_id,
        create_time=row.create_time,
        update_time=row.update_time,
        billing_error=_error(row),
    )
