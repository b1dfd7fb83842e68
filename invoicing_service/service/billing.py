"""Invoices through their life: drafted at period end, finalized, voided, paid (I-10..I-15).

The same functions serve the RPCs, the wall-clock scheduler and test-clock advances
(I-16); only "now" differs. Steps that call another service are a saga whose every state
is stored before the call, so a crash or an UNAVAILABLE at any point leaves an invoice
that a retry or the recovery sweep completes, and credits move once per invoice:

  finalize: draft ─(lines recomputed from re-read usage)→ finalizing ─apply→ open | paid
  void:     open ─→ voiding ─reinstate→ void
  pay a credit purchase: open ─→ paying ─create grant (request id = invoice id)→ paid

``finalizing`` shows as DRAFT and ``voiding`` / ``paying`` as OPEN on the API; the states,
what each shows and where each action leads are ``domain.invoices.InvoiceState``'s.

One bad subscription or invoice never holds up the others (X-6): a period whose lines
cannot be rated (an amount beyond what a line holds, usage metering refuses to sum) or an
invoice credits refuses is set aside with its reason (``billing_error``) and logged; the
rest of its batch is billed, and the scheduler tries it again an hour later.

An RPC that runs several units of work (a saga step commits before its outbound call)
runs them all on one pooled connection, one after the other (``one_connection``): it
never waits for a second connection while it holds one (X-7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database, UnitOfWork
from drawdown.errors import DomainError, FailedPrecondition, Unavailable
from drawdown.money import Money
from invoicing_service.adapters.credits import CreditForLine, InvoiceForCredits
from invoicing_service.adapters.downstream import Downstream
from invoicing_service.adapters.metering import UsageQuery
from invoicing_service.adapters.peers import Caller, PeerFailure
from invoicing_service.domain.credit_purchases import CreditGrantRequest, purchased_grant_metadata
from invoicing_service.domain.invoices import (
    CreditApplication,
    InvoiceAction,
    InvoiceLine,
    InvoiceState,
    LineKind,
    MeteredUsage,
    auto_finalize_at,
    completed_state,
    draft_lines,
    invoice_totals,
    started_state,
)
from invoicing_service.domain.periods import Period, metering_range, next_period
from invoicing_service.domain.prices import UsageType, billed_units
from invoicing_service.domain.subscriptions import SubscriptionItem, SubscriptionStatus
from invoicing_service.store.billing import InvoiceStore, SubscriptionStore
from invoicing_service.store.catalog import CatalogStore
from invoicing_service.store.customers import CustomerStore, TestClockStore
from invoicing_service.store.records import (
    BillingErrorRecord,
    CreditApplicationRecord,
    InvoiceRecord,
    LineCredit,
    StoredLine,
    SubscriptionRecord,
)

log = structlog.get_logger("drawdown.invoicing.billing")

# Subscriptions or drafts one scheduler claim takes: one transaction, one batch call to
# metering and one to credits.
CLAIM_BATCH = 100
# How long the wall-clock scheduler leaves a subscription or invoice it set aside before
# it tries to bill it again.
SET_ASIDE_RETRY = timedelta(hours=1)

# The last step of a saga, run where the caller wants it: given the work on a session,
# the caller's result (an RPC stores its response there, with its request id).
Finish = Callable[[Callable[[AsyncSession], Awaitable[InvoiceRecord]]], Awaitable[Any]]


class UnitsOfWork(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...


class OnConnection:
    """Units of work that run one after the other on one connection (``Database``'s
    ``unit_of_work`` for one call): each is a transaction of its own, committed or rolled
    back, and the connection stays checked out between them."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(AsyncSession(bind=self.connection, expire_on_commit=False, autoflush=False))


@dataclass(frozen=True)
class Rated:
    """A job's rated lines, or why it could not be rated: a domain error (a line beyond
    what an invoice holds, metering refusing the query) or a peer's failure."""

    lines: tuple[StoredLine, ...] = ()
    error: DomainError | PeerFailure | None = None


@dataclass(frozen=True)
class Closed:
    """What closing one subscription's period gave: its draft, or why it was set aside."""

    draft: InvoiceRecord | None = None
    set_aside: BillingErrorRecord | None = None


def billing_error(error: DomainError | PeerFailure, now: datetime) -> BillingErrorRecord:
    """The reason a subscription or invoice is set aside (X-6), as stored and shown."""
    return BillingErrorRecord(error.reason, error.message[:500], now)


def set_aside_worthy(error: BaseException) -> bool:
    """Whether ``error`` sets one subscription or invoice aside: any refusal or peer
    failure, but not a peer that is down (then the whole batch waits and is retried)."""
    return isinstance(error, PeerFailure) or (
        isinstance(error, DomainError) and not isinstance(error, Unavailable)
    )


@dataclass(frozen=True)
class LinesToRate:
    """A subscription's ``items`` to rate: metered usage over ``usage_period``, licensed
    quantities for ``advance_period``; ``line_ids`` are reused in order (a repriced draft
    keeps its line ids)."""

    subscription: SubscriptionRecord
    items: Sequence[SubscriptionItem]
    usage_period: Period | None
    advance_period: Period | None
    line_ids: Sequence[str] = ()


def apply_request_id(invoice_id: str) -> str:
    """The request id of an invoice's credit application: derived from the invoice id, so
    every retry of the finalization is the same request to credits (C-14, X-1)."""
    return f"apply:{invoice_id}"


def has_metered_lines(invoice: InvoiceRecord) -> bool:
    """Only metered lines take credits (C-10): other invoices never touch credits."""
    return any(stored.line.kind is LineKind.METERED for stored in invoice.lines)


class Billing:
    """Drafting, finalizing and settling invoices."""

    def __init__(self, database: Database | UnitsOfWork, downstream: Downstream, clock: Clock) -> None:
        self.database = database
        self.downstream = downstream
        self.clock = clock

    @asynccontextmanager
    async def one_connection(self) -> AsyncIterator[Billing]:
        """This billing core with every unit of work on one pooled connection, checked out
        for the whole block (X-7): a call that needs several units of work in turn never
        holds one connection while it waits for another."""
        assert isinstance(self.database, Database), "already on one connection"
        async with self.database.engine.connect() as connection:
            yield Billing(OnConnection(connection), self.downstream, self.clock)

    # -- time -----------------------------------------------------------------------

    async def now_for(self, session: AsyncSession, test_clock_id: str | None) -> datetime:
        """ "Now" for a customer: its test clock's frozen time, or the wall clock (X-3, I-16)."""
        if test_clock_id is None:
            return self.clock.now()
        return (await TestClockStore(session).get(test_clock_id)).frozen_time

    # -- reads ----------------------------------------------------------------------

    async def get(self, invoice_id: str) -> InvoiceRecord:
        async with self.database.unit_of_work() as uow:
            return await InvoiceStore(uow.session).get(invoice_id)

    async def list(self, **filters: Any) -> list[InvoiceRecord]:
        async with self.database.unit_of_work() as uow:
            return await InvoiceStore(uow.session).list(**filters)

    # -- lines ----------------------------------------------------------------------

    async def subscription_lines(
        self,
        session: AsyncSession,
        subscription: SubscriptionRecord,
        items: Sequence[SubscriptionItem],
        *,
        usage_period: Period | None,
        advance_period: Period | None,
        caller: Caller = None,
    ) -> tuple[StoredLine, ...]:
        """Rated lines for one subscription's ``items`` (see ``rate_lines``); a line that
        cannot be billed raises its error (FailedPrecondition LINE_AMOUNT_TOO_LARGE ...)."""
        job = LinesToRate(subscription, items, usage_period, advance_period)
        return await self.lines_for(job, await self.product_names(session, [job]), caller)

    async def lines_for(
        self, job: LinesToRate, names: Mapping[str, str], caller: Caller
    ) -> tuple[StoredLine, ...]:
        """``subscription_lines`` without a session: ``names`` read beforehand, so that a
        read (a preview, a live balance) holds no connection while metering answers."""
        (rated,) = await self.rate([job], names, caller)
        if rated.error is not None:
            raise rated.error
        return rated.lines

    async def product_names(self, session: AsyncSession, jobs: Sequence[LinesToRate]) -> dict[str, str]:
        """The product name of each price of the jobs, for line descriptions."""
        return await CatalogStore(session).product_names_of_prices(
            {item.price_id for job in jobs for item in job.items}
        )

    async def rate_lines(
        self, session: AsyncSession, jobs: Sequence[LinesToRate], caller: Caller = None
    ) -> list[Rated]:
        """Rated lines for each job: metered usage read from metering for exactly its
        ``usage_period`` (I-10), all jobs' usage in one batch, and licensed quantities
        for its ``advance_period``. A job that cannot be rated carries its error; one
        that fails does not fail the others (X-6)."""
        return await self.rate(jobs, await self.product_names(session, jobs), caller)

    async def rate(
        self, jobs: Sequence[LinesToRate], names: Mapping[str, str], caller: Caller
    ) -> list[Rated]:
        queries: list[UsageQuery] = []
        metered: list[tuple[int, SubscriptionItem, Period]] = []
        for index, job in enumerate(jobs):
            if job.usage_period is None:
                continue
            for item in job.items:
                if item.price.usage_type is UsageType.METERED:
                    queries.append(
                        UsageQuery(
                            item.price.meter_id or "",
                            job.subscription.customer_id,
                            metering_range(job.usage_period),
                        )
                    )
                    metered.append((index, item, job.usage_period))
        try:
            quantities = await self.downstream.metering.usage(queries, caller) if queries else []
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error) or len(jobs) <= 1:
                raise
            # Metering refused the batch: ask for each job alone, so that only the job it
            # refuses is left out.
            log.warning("usage.batch_refused", reason=error.reason)
            return [await self._rate_alone(job, names, caller) for job in jobs]
        usage: list[dict[str, MeteredUsage]] = [{} for _ in jobs]
        for (index, item, period), quantity in zip(metered, quantities, strict=True):
            usage[index][item.id] = MeteredUsage(period, quantity)
        results = []
        for job, job_usage in zip(jobs, usage, strict=True):
            try:
                results.append(Rated(_rated(job, job_usage, names)))
            except DomainError as error:  # LineNotBillable: beyond what a line holds
                results.append(Rated(error=error))
        return results

    async def _rate_alone(self, job: LinesToRate, names: Mapping[str, str], caller: Caller) -> Rated:
        try:
            (rated,) = await self.rate([job], names, caller)
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error):
                raise
            return Rated(error=error)
        return rated

    # -- drafting -------------------------------------------------------------------

    async def close_period(self, subscription_id: str, as_of: datetime) -> Closed:
        """Close the subscription's current period if it has ended by ``as_of`` (I-10):
        its draft is created and its credits held, or, when the period cannot be billed,
        the subscription is set aside with the reason (X-6). Nothing when there was
        nothing to close."""
        async with self.database.unit_of_work() as uow:
            subscription = await SubscriptionStore(uow.session).get(subscription_id, for_update=True)
            if (
                subscription.status is not SubscriptionStatus.ACTIVE
                or subscription.current_period.end > as_of
            ):
                return Closed()
            drafts, set_aside = await self.close_locked(uow.session, [subscription], as_of)
            await uow.commit()
        if set_aside:
            return Closed(set_aside=set_aside[subscription_id])
        return Closed(draft=await self.hold_one(drafts[0]))

    async def close_due_periods(self, now: datetime) -> int:
        """Close wall-clock subscription periods until none is due, ``CLAIM_BATCH`` at a
        time; each batch claimed with SKIP LOCKED, so replicas share the work without doing
        any twice. A subscription set aside is tried again after ``SET_ASIDE_RETRY``."""
        closed = 0
        while True:
            async with self.database.unit_of_work() as uow:
                subscriptions = await SubscriptionStore(uow.session).claim_due(
                    now, CLAIM_BATCH, now - SET_ASIDE_RETRY
                )
                if not subscriptions:
                    return closed
                drafts, _ = await self.close_locked(uow.session, subscriptions, now)
                await uow.commit()
            await self.hold_for_drafts(drafts)
            closed += len(drafts)

    async def close_locked(
        self, session: AsyncSession, subscriptions: Sequence[SubscriptionRecord], as_of: datetime
    ) -> tuple[list[InvoiceRecord], dict[str, BillingErrorRecord]]:
        """Draft each subscription's current period (I-10) and move it on to its next
        period, or cancel it if it was to end there; the subscriptions are locked. One
        whose period cannot be billed stays where it is, set aside with its reason (X-6):
        the drafts, and the billing errors by subscription id."""
        following = {
            s.id: next_period(
                s.billing_cycle_anchor,
                s.items[0].price.interval,
                s.items[0].price.interval_count,
                s.current_period,
            )
            for s in subscriptions
        }
        rated = await self.rate_lines(
            session,
            [
                LinesToRate(s, s.items, s.current_period, None if s.cancel_at_period_end else following[s.id])
                for s in subscriptions
            ],
        )
        graces = await self.grace_periods(session, subscriptions)
        drafts: list[InvoiceRecord] = []
        changes: dict[str, dict[str, Any]] = {}
        set_aside: dict[str, BillingErrorRecord] = {}
        for subscription, result in zip(subscriptions, rated, strict=True):
            if result.error is not None:
                set_aside[subscription.id] = billing_error(result.error, self.clock.now())
                continue
            period, ends = subscription.current_period, subscription.cancel_at_period_end
            draft = self.new_invoice(
                subscription,
                billing_reason="subscription_cancel" if ends else "subscription_cycle",
                period=period,
                lines=result.lines,
                status=InvoiceState.DRAFT,
                now=as_of,
                auto_finalize_time=auto_finalize_at(period.end, graces[subscription.id]),
            )
            drafts.append(draft)
            change: dict[str, Any] = {
                "latest_invoice_id": draft.id,
                "update_time": as_of,
                "billing_error_reason": None,
                "billing_error_message": None,
                "billing_error_time": None,
            }
            if ends:
                change.update(status=SubscriptionStatus.CANCELED.value, cancel_time=period.end)
            else:
                next_one = following[subscription.id]
                change.update(current_period_start=next_one.start, current_period_end=next_one.end)
            changes[subscription.id] = change
        await InvoiceStore(session).insert_many(drafts)
        await SubscriptionStore(session).update_many(changes)
        await SubscriptionStore(session).set_aside(set_aside)
        for draft in drafts:
            log.info(
                "invoice.drafted",
                invoice_id=draft.id,
                subscription_id=draft.subscription_id,
                period_end=draft.period.end,
            )
        for subscription_id, error in set_aside.items():
            log.warning(
                "subscription.set_aside",
                subscription_id=subscription_id,
                reason=error.reason,
                why=error.message,
            )
        return drafts, set_aside

    async def grace_period(self, session: AsyncSession, subscription: SubscriptionRecord) -> timedelta:
        """The subscription's grace period, else its customer's (I-11)."""
        return (await self.grace_periods(session, [subscription]))[subscription.id]

    async def grace_periods(
        self, session: AsyncSession, subscriptions: Sequence[SubscriptionRecord]
    ) -> dict[str, timedelta]:
        """``grace_period`` of each subscription, by id, in one query."""
        inherited = {s.customer_id for s in subscriptions if s.grace_period is None}
        customers = await CustomerStore(session).grace_periods(inherited) if inherited else {}
        return {
            s.id: s.grace_period if s.grace_period is not None else customers[s.customer_id]
            for s in subscriptions
        }

    @staticmethod
    def new_invoice(
        subscription: SubscriptionRecord,
        *,
        billing_reason: str,
        period: Period,
        lines: tuple[StoredLine, ...],
        status: InvoiceState,
        now: datetime,
        auto_finalize_time: datetime | None = None,
    ) -> InvoiceRecord:
        totals = invoice_totals(subscription.currency, [stored.line for stored in lines])
        return InvoiceRecord(
            id=ids.new_id(ids.INVOICE),
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            status=status,
            billing_reason=billing_reason,
            currency=subscription.currency,
            period=period,
            lines=lines,
            subtotal=totals.subtotal.minor,
            total_credits_applied=totals.credits_total.minor,
            amount_due=totals.amount_due.minor,
            amount_paid=0,
            credit_applications=(),
            auto_finalize_time=auto_finalize_time,
            finalize_time=None,
            paid_time=None,
            void_time=None,
            uncollectible_time=None,
            credit_purchase=None,
            test_clock_id=subscription.test_clock_id,
            create_time=now,
            update_time=now,
        )

    async def hold_for_drafts(self, drafts: Sequence[InvoiceRecord]) -> list[InvoiceRecord]:
        """Hold the drafts' credits (C-13), in one call, and show them on the drafts,
        tentatively. Best effort: if credits cannot be reached the drafts stay without
        holds, and finalization computes the allocation afresh anyway. A batch that credits
        refuses is held draft by draft, so one bad draft holds up no other."""
        metered = [draft for draft in drafts if has_metered_lines(draft)]
        if not metered:
            return list(drafts)
        try:
            allocations = await self.downstream.credits.hold(
                [(_for_credits(draft, draft.create_time), f"hold:{draft.id}") for draft in metered]
            )
        except Unavailable:
            log.warning("invoice.hold_failed", invoice_ids=[draft.id for draft in metered])
            return list(drafts)
        except (DomainError, PeerFailure) as error:
            if len(metered) == 1:
                raise
            log.warning("invoice.batch_hold_refused", reason=error.reason, metadata=error.metadata)
            return [await self.hold_one(draft) for draft in drafts]
        async with self.database.unit_of_work() as uow:
            store = InvoiceStore(uow.session)
            statuses = await store.lock([draft.id for draft in metered])
            # A draft is only ever changed by leaving draft status: one still a draft is
            # as this run created it.
            held = {
                draft.id: with_credits(draft, allocation, draft.update_time)
                for draft, allocation in zip(metered, allocations, strict=True)
                if statuses.get(draft.id) is InvoiceState.DRAFT
            }
            await store.save_many(list(held.values()))
            moved_on = [draft.id for draft in metered if draft.id in statuses and draft.id not in held]
            held.update((current.id, current) for current in await store.get_many(moved_on))
            await uow.commit()
        return [held.get(draft.id, draft) for draft in drafts]

    async def hold_one(self, draft: InvoiceRecord) -> InvoiceRecord:
        """Hold one draft's credits, best effort: a refusal is logged and the draft kept
        without holds (finalization allocates afresh)."""
        try:
            return (await self.hold_for_drafts([draft]))[0]
        except (DomainError, PeerFailure) as error:
            log.warning("invoice.hold_refused", invoice_id=draft.id, reason=error.reason)
            return draft

    # -- finalization ---------------------------------------------------------------

    async def finalize(
        self,
        invoice_id: str,
        *,
        as_of: datetime | None = None,
        caller: Caller = None,
        finish: Finish | None = None,
    ) -> Any:
        """Finalize a draft (I-11): re-read usage and reprice (stored as ``finalizing``),
        apply credits once (C-13, C-14), then store the allocation and set open or paid.

        ``finish`` runs the last step (an RPC's, so that the transition and the request id
        commit together) and gives the result; without it the step commits on its own and
        the finalized invoice is returned. Lines that cannot be billed raise their error
        (FailedPrecondition LINE_AMOUNT_TOO_LARGE ...) and leave the draft as it was.
        """
        async with self.database.unit_of_work() as uow:
            invoice = await InvoiceStore(uow.session).get(invoice_id, for_update=True)
            prepared, set_aside = await self._prepare_locked(uow.session, [invoice], as_of, caller)
            if set_aside:
                raise set_aside[invoice.id]
            await uow.commit()
        return await self._apply_and_complete(prepared[0], caller, finish)

    async def finalize_due_drafts(self, now: datetime) -> int:
        """Finalize wall-clock drafts past their grace period (I-11), ``CLAIM_BATCH`` at a
        time: usage re-read in one batch, credits applied in one batch. A draft whose lines
        cannot be billed is set aside with its reason (X-6) and tried again after
        ``SET_ASIDE_RETRY``; the others finalize."""
        finalized = 0
        while True:
            async with self.database.unit_of_work() as uow:
                drafts = await InvoiceStore(uow.session).claim_due_drafts(
                    now, CLAIM_BATCH, now - SET_ASIDE_RETRY
                )
                if not drafts:
                    return finalized
                prepared, set_aside = await self._prepare_locked(uow.session, drafts, now, None)
                await self._set_aside_invoices(uow.session, set_aside)
                await uow.commit()
            finalized += await self._apply_and_complete_many(prepared)

    async def set_aside_invoices(self, errors: Mapping[str, DomainError | PeerFailure]) -> None:
        """Set invoices aside (by id) with the reason they could not be finalized (X-6)."""
        async with self.database.unit_of_work() as uow:
            await self._set_aside_invoices(uow.session, errors)
            await uow.commit()

    async def _set_aside_invoices(
        self, session: AsyncSession, errors: Mapping[str, DomainError | PeerFailure]
    ) -> None:
        now = self.clock.now()
        await InvoiceStore(session).set_aside({i: billing_error(e, now) for i, e in errors.items()})
        for invoice_id, error in errors.items():
            log.warning("invoice.set_aside", invoice_id=invoice_id, reason=error.reason, why=error.message)

    async def _prepare_locked(
        self, session: AsyncSession, invoices: Sequence[InvoiceRecord], as_of: datetime | None, caller: Caller
    ) -> tuple[list[InvoiceRecord], dict[str, DomainError | PeerFailure]]:
        """Store each locked draft as ``finalizing``, repriced from usage as it is now
        (I-11); one that is finalizing already is left as it is. A draft whose lines
        cannot be rated is left a draft: the prepared invoices, and the errors of those
        left out by invoice id."""
        for invoice in invoices:
            started_state(invoice.status, InvoiceAction.FINALIZE)  # refuses all but drafts and their retries
        drafts = [invoice for invoice in invoices if invoice.status is InvoiceState.DRAFT]
        metered = [d for d in drafts if d.subscription_id is not None and has_metered_lines(d)]
        fresh: dict[str, tuple[StoredLine, ...]] = {}
        errors: dict[str, DomainError | PeerFailure] = {}
        for draft, rated in zip(metered, await self._reread_usage(session, metered, caller), strict=True):
            if rated.error is not None:
                errors[draft.id] = rated.error
            else:
                fresh[draft.id] = rated.lines
        prepared: dict[str, InvoiceRecord] = {}
        for draft in drafts:
            if draft.id in errors:
                continue
            at = as_of or await self.now_for(session, draft.test_clock_id)
            lines = fresh.get(draft.id, draft.lines)
            totals = invoice_totals(draft.currency, [stored.line for stored in lines])
            prepared[draft.id] = replace(
                draft,
                status=InvoiceState.FINALIZING,
                lines=tuple(replace(stored, credits=()) for stored in lines),
                subtotal=totals.subtotal.minor,
                total_credits_applied=totals.credits_total.minor,
                amount_due=totals.amount_due.minor,
                credit_applications=(),
                finalize_time=at,
                update_time=at,
                billing_error=None,
            )
        await InvoiceStore(session).save_many(list(prepared.values()))
        return [prepared.get(invoice.id, invoice) for invoice in invoices if invoice.id not in errors], errors

    async def _reread_usage(
        self, session: AsyncSession, invoices: Sequence[InvoiceRecord], caller: Caller
    ) -> list[Rated]:
        """Each draft's metered lines recomputed from usage as it is now: late usage
        reported in the grace period counts (I-11). Licensed lines stay as drafted."""
        if not invoices:
            return []
        subscriptions = await SubscriptionStore(session).get_many(i.subscription_id or "" for i in invoices)
        jobs = []
        for invoice in invoices:
            subscription = subscriptions[invoice.subscription_id or ""]
            metered = [s.line for s in invoice.lines if s.line.kind is LineKind.METERED]
            item_ids = {line.subscription_item_id for line in metered}
            items = [item for item in subscription.items if item.id in item_ids]
            jobs.append(LinesToRate(subscription, items, invoice.period, None, [line.id for line in metered]))
        rated = await self.rate_lines(session, jobs, caller)
        repriced = []
        for invoice, result in zip(invoices, rated, strict=True):
            if result.error is not None:
                repriced.append(result)
                continue
            fresh = iter(result.lines)
            repriced.append(
                Rated(tuple(next(fresh) if s.line.kind is LineKind.METERED else s for s in invoice.lines))
            )
        return repriced

    async def _apply_and_complete(self, invoice: InvoiceRecord, caller: Caller, finish: Finish | None) -> Any:
        allocation: list[CreditForLine] = []
        if has_metered_lines(invoice):
            (allocation,) = await self.downstream.credits.apply([_application(invoice)], caller)

        async def complete(session: AsyncSession) -> InvoiceRecord:
            (finalized,) = await self._complete_finalizations(session, [(invoice, allocation)])
            return finalized

        return await self._finish(finish, complete)

    async def _apply_and_complete_many(self, invoices: Sequence[InvoiceRecord]) -> int:
        """Apply credits to finalizing invoices in one batch and complete them; how many
        were completed. If credits is down they stay finalizing (the recovery sweep
        completes them); if it refuses the batch, each is applied alone, so one bad
        invoice holds up no other, and one credits refuses is set aside (X-6)."""
        allocations: list[tuple[InvoiceRecord, Sequence[CreditForLine]]] = [
            (invoice, []) for invoice in invoices if not has_metered_lines(invoice)
        ]
        metered = [invoice for invoice in invoices if has_metered_lines(invoice)]
        down: Unavailable | None = None
        try:
            if metered:
                applied = await self.downstream.credits.apply(
                    [_application(invoice) for invoice in metered], None
                )
                allocations += zip(metered, applied, strict=True)
        except Unavailable as error:
            down = error
        except (DomainError, PeerFailure) as error:
            log.warning("invoice.batch_apply_refused", reason=error.reason, metadata=error.metadata)
            completed = await self._complete_many(allocations)
            if len(metered) == 1:
                await self.set_aside_invoices({metered[0].id: error})
                return completed
            return completed + sum([await self._apply_alone(invoice) for invoice in metered])
        completed = await self._complete_many(allocations)
        if down is not None:
            raise down
        return completed

    async def _complete_many(
        self, allocations: Sequence[tuple[InvoiceRecord, Sequence[CreditForLine]]]
    ) -> int:
        if allocations:
            async with self.database.unit_of_work() as uow:
                await self._complete_finalizations(uow.session, allocations)
                await uow.commit()
        return len(allocations)

    async def _apply_alone(self, invoice: InvoiceRecord) -> int:
        try:
            await self._apply_and_complete(invoice, None, None)
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error):
                raise
            await self.set_aside_invoices({invoice.id: error})
            return 0
        return 1

    async def _complete_finalizations(
        self, session: AsyncSession, allocations: Sequence[tuple[InvoiceRecord, Sequence[CreditForLine]]]
    ) -> list[InvoiceRecord]:
        """Store each finalizing invoice's posted allocation and set it open or paid; the
        invoices as they now are. A finalizing invoice changes only when it is completed,
        so one still finalizing is as given; one another worker completed is re-read."""
        store = InvoiceStore(session)
        statuses = await store.lock([invoice.id for invoice, _ in allocations])
        done_elsewhere = [
            invoice.id
            for invoice, _ in allocations
            if statuses.get(invoice.id) is not InvoiceState.FINALIZING
        ]
        invoices = await store.get_many(done_elsewhere)
        completed = []
        for invoice, allocation in allocations:
            if statuses.get(invoice.id) is not InvoiceState.FINALIZING:
                continue
            assert invoice.finalize_time is not None
            credited = with_credits(invoice, allocation, invoice.finalize_time)
            state = completed_state(
                InvoiceState.FINALIZING, amount_due=Money(invoice.currency, credited.amount_due)
            )
            completed.append(
                replace(
                    credited,
                    status=state,
                    auto_finalize_time=None,
                    paid_time=invoice.finalize_time if state is InvoiceState.PAID else None,
                    billing_error=None,
                )
            )
        invoices.extend(completed)
        await store.save_many(completed)
        for finalized in completed:
            log.info(
                "invoice.finalized",
                invoice_id=finalized.id,
                status=finalized.status.value,
                amount_due=finalized.amount_due,
            )
        return invoices

    # -- void, pay, uncollectible -------------------------------------------------

    async def void(self, invoice_id: str, *, caller: Caller = None, finish: Finish | None = None) -> Any:
        """Void an open invoice and reinstate its credits (I-12, C-15); ``finish`` as for
        ``finalize``."""
        async with self.database.unit_of_work() as uow:
            store = InvoiceStore(uow.session)
            invoice = await store.get(invoice_id, for_update=True)
            step = started_state(invoice.status, InvoiceAction.VOID)
            if invoice.status is not step:
                now = await self.now_for(uow.session, invoice.test_clock_id)
                invoice = replace(invoice, status=step, void_time=now, update_time=now)
                await store.save(invoice)
            await uow.commit()
        return await self._reinstate_and_complete(invoice, caller, finish)

    async def _reinstate_and_complete(
        self, invoice: InvoiceRecord, caller: Caller, finish: Finish | None
    ) -> Any:
        reinstated: dict[str, str] = {}
        if has_metered_lines(invoice):
            assert invoice.void_time is not None
            reinstated = await self.downstream.credits.reinstate(
                invoice.id, invoice.customer_id, invoice.void_time, caller
            )

        async def complete(session: AsyncSession) -> InvoiceRecord:
            store = InvoiceStore(session)
            current = await store.get(invoice.id, for_update=True)
            if current.status is not InvoiceState.VOIDING:
                return current
            voided = replace(
                current,
                status=completed_state(InvoiceState.VOIDING),
                credit_applications=tuple(
                    replace(a, reinstate_transaction_id=reinstated.get(a.grant_id, ""))
                    for a in current.credit_applications
                ),
            )
            await store.save(voided)
            return voided

        return await self._finish(finish, complete)

    async def pay(self, invoice_id: str, *, caller: Caller = None, finish: Finish | None = None) -> Any:
        """Record an open invoice as paid (I-12); a credit purchase's grant is created once,
        under the invoice id as request id, after the intent is stored (I-15). ``finish``
        as for ``finalize``."""
        async with self.database.unit_of_work() as uow:
            store = InvoiceStore(uow.session)
            invoice = await store.get(invoice_id, for_update=True)
            step = started_state(invoice.status, InvoiceAction.PAY)
            if invoice.status is not step:
                now = await self.now_for(uow.session, invoice.test_clock_id)
                purchase = invoice.credit_purchase
                if (
                    purchase is not None
                    and purchase.get("expire_time")
                    and _at(purchase["expire_time"]) <= now
                ):
                    raise FailedPrecondition(
                        f"credit purchase {invoice_id} expired at {purchase['expire_time']}; void it instead",
                        reason="CREDIT_PURCHASE_EXPIRED",
                    )
                invoice = replace(invoice, status=step, paid_time=now, update_time=now)
                await store.save(invoice)
            await uow.commit()
        try:
            return await self._grant_and_complete(invoice, caller, finish)
        except FailedPrecondition:
            await self._back_to_open(invoice_id)
            raise

    async def _grant_and_complete(self, invoice: InvoiceRecord, caller: Caller, finish: Finish | None) -> Any:
        grant_id = ""
        if invoice.credit_purchase is not None:
            grant_id = await self.downstream.credits.create_paid_grant(_purchased_grant(invoice), caller)

        async def complete(session: AsyncSession) -> InvoiceRecord:
            store = InvoiceStore(session)
            current = await store.get(invoice.id, for_update=True)
            if current.status is not InvoiceState.PAYING:
                return current
            purchase = (
                None
                if current.credit_purchase is None
                else {**current.credit_purchase, "credit_grant_id": grant_id}
            )
            paid = replace(
                current,
                status=completed_state(InvoiceState.PAYING),
                amount_paid=current.amount_due,
                credit_purchase=purchase,
            )
            await store.save(paid)
            return paid

        return await self._finish(finish, complete)

    async def _back_to_open(self, invoice_id: str) -> None:
        async with self.database.unit_of_work() as uow:
            store = InvoiceStore(uow.session)
            invoice = await store.get(invoice_id, for_update=True)
            if invoice.status is InvoiceState.PAYING:
                await store.save(replace(invoice, status=InvoiceState.OPEN, paid_time=None))
            await uow.commit()

    async def mark_uncollectible(self, session: AsyncSession, invoice_id: str) -> InvoiceRecord:
        """Write an open invoice off; its credits stay applied (I-12, C-15)."""
        store = InvoiceStore(session)
        invoice = await store.get(invoice_id, for_update=True)
        state = started_state(invoice.status, InvoiceAction.MARK_UNCOLLECTIBLE)
        now = await self.now_for(session, invoice.test_clock_id)
        marked = replace(invoice, status=state, uncollectible_time=now, update_time=now)
        await store.save(marked)
        return marked

    # -- recovery -------------------------------------------------------------------

    async def recover_in_flight(self, older_than: timedelta) -> int:
        """Complete every saga untouched for ``older_than`` (a crash, or a peer
        that was down): finalizing → apply, voiding → reinstate, paying → grant. Each
        outbound call is idempotent per invoice, so completing twice changes nothing. An
        invoice a peer refuses is set aside with the reason (X-6) and tried again after
        ``SET_ASIDE_RETRY``; one whose peer is down waits for the next sweep."""
        recovered = 0
        failed: list[str] = []
        while True:
            async with self.database.unit_of_work() as uow:
                claimed = await InvoiceStore(uow.session).claim_in_flight(
                    older_than, failed, self.clock.now() - SET_ASIDE_RETRY
                )
                if claimed is None:
                    return recovered
                invoice = await InvoiceStore(uow.session).get(claimed)

                async def here(complete: Callable[[AsyncSession], Awaitable[InvoiceRecord]]) -> InvoiceRecord:
                    return await complete(uow.session)

                try:
                    if invoice.status is InvoiceState.FINALIZING:
                        await self._apply_and_complete(invoice, None, here)
                    elif invoice.status is InvoiceState.VOIDING:
                        await self._reinstate_and_complete(invoice, None, here)
                    else:
                        await self._grant_and_complete(invoice, None, here)
                except (DomainError, PeerFailure) as error:
                    log.warning("invoice.recovery_failed", invoice_id=invoice.id, reason=error.reason)
                    failed.append(invoice.id)
                    if set_aside_worthy(error):
                        await self._set_aside_invoices(uow.session, {invoice.id: error})
                        await uow.commit()
                    continue
                await uow.commit()
            recovered += 1

    async def _finish(
        self, finish: Finish | None, complete: Callable[[AsyncSession], Awaitable[InvoiceRecord]]
    ) -> Any:
        if finish is not None:
            return await finish(complete)
        async with self.database.unit_of_work() as uow:
            result = await complete(uow.session)
            await uow.commit()
        return result


def with_credits(invoice: InvoiceRecord, allocation: Sequence[CreditForLine], now: datetime) -> InvoiceRecord:
    """The invoice with ``allocation`` on its lines and in its totals (I-13): per line in
    allocation order, per grant in draw order (C-11). Totals come from the domain rule,
    which refuses a line credited beyond its amount (C-12)."""
    by_line: dict[str, list[LineCredit]] = {}
    by_grant: dict[str, CreditApplicationRecord] = {}
    for entry in allocation:
        by_line.setdefault(entry.line_id, []).append(
            LineCredit(entry.grant_id, entry.amount, entry.transaction_id)
        )
        previous = by_grant.get(entry.grant_id, CreditApplicationRecord(entry.grant_id, 0))
        transactions = previous.transaction_ids + ((entry.transaction_id,) if entry.transaction_id else ())
        by_grant[entry.grant_id] = replace(
            previous, amount=previous.amount + entry.amount, transaction_ids=transactions
        )
    totals = invoice_totals(
        invoice.currency,
        [stored.line for stored in invoice.lines],
        [
            CreditApplication(
                e.line_id, e.grant_id, Money(invoice.currency, e.amount), e.transaction_id or None
            )
            for e in allocation
        ],
    )
    return replace(
        invoice,
        lines=tuple(
            replace(stored, credits=tuple(by_line.get(stored.line.id, ()))) for stored in invoice.lines
        ),
        subtotal=totals.subtotal.minor,
        total_credits_applied=totals.credits_total.minor,
        amount_due=totals.amount_due.minor,
        credit_applications=tuple(by_grant.values()),
        update_time=now,
    )


def _rated(
    job: LinesToRate, usage: Mapping[str, MeteredUsage], names: Mapping[str, str]
) -> tuple[StoredLine, ...]:
    reused = iter(job.line_ids)
    lines = draft_lines(
        job.items,
        usage,
        usage_period=job.usage_period,
        advance_period=job.advance_period,
        new_line_id=lambda: next(reused, None) or ids.new_id(ids.INVOICE_LINE),
    )
    prices = {item.id: item.price for item in job.items}
    return tuple(
        StoredLine(
            line=replace(line, quantity=billed_units(prices[line.subscription_item_id or ""], line.quantity)),
            description=_describe(names.get(line.price_id or "", line.price_id or ""), line),
            usage_quantity=usage[line.subscription_item_id].quantity
            if line.kind is LineKind.METERED and line.subscription_item_id in usage
            else None,
        )
        for line in lines
    )


def _application(invoice: InvoiceRecord) -> tuple[InvoiceForCredits, str]:
    """A finalizing invoice as credits applies it, with its request id."""
    assert invoice.finalize_time is not None
    return _for_credits(invoice, invoice.finalize_time), apply_request_id(invoice.id)


def _for_credits(invoice: InvoiceRecord, as_of: datetime) -> InvoiceForCredits:
    return InvoiceForCredits(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        period_end=invoice.period.end,
        as_of=as_of,
        lines=[stored.line for stored in invoice.lines],
    )


def for_credits_preview(
    customer_id: str, currency: str, period_end: datetime, as_of: datetime, lines: Sequence[InvoiceLine]
) -> InvoiceForCredits:
    return InvoiceForCredits("", customer_id, currency, period_end, as_of, lines)


def _describe(product_name: str, line: InvoiceLine) -> str:
    return f"{product_name} ({line.period.start:%Y-%m-%d %H:%M} – {line.period.end:%Y-%m-%d %H:%M} UTC)"


def _at(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def _purchased_grant(invoice: InvoiceRecord) -> CreditGrantRequest:
    """The paid grant a credit purchase invoice creates, once, under its invoice id (I-15)."""
    purchase = invoice.credit_purchase
    assert purchase is not None and invoice.paid_time is not None
    return CreditGrantRequest(
        request_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=Money(invoice.currency, invoice.subtotal),
        name=str(purchase["name"]),
        priority=int(purchase["priority"]),
        applicable_price_ids=tuple(purchase["price_ids"]),
        effective_at=invoice.paid_time,
        expires_at=_at(purchase["expire_time"]) if purchase.get("expire_time") else None,
        metadata=purchased_grant_metadata(purchase["metadata"], invoice.id),
    )
