"""The billing scheduler: period closes, auto-finalizations, recovery, grant expiries,
usage authorizations' expiries (and captures cut short) and the evaluation of balance
watches on the wall clock, and the same actions at simulated times when a test clock
advances (I-10, I-11, I-16, R-6, R-7).

Every replica runs the wall-clock loop; rows are claimed with FOR UPDATE SKIP LOCKED and
a subscription period has one draft (a unique index), so each invoice is drafted and
finalized once however many replicas run. A subscription or invoice that cannot be billed
is set aside with its reason and the rest is billed on time (X-6).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import DomainError, FailedPrecondition
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain import reasons
from invoicing_service.domain.test_clocks import (
    ActionKind,
    BillingSchedule,
    DueAction,
    PendingDraft,
    TestClockStatus,
    due_actions,
    validate_advance,
)
from invoicing_service.service.authorizations import UsageAuthorizations
from invoicing_service.service.balance_watches import BalanceWatches
from invoicing_service.service.batches import set_aside_worthy
from invoicing_service.service.billing import Billing
from invoicing_service.service.changes import test_clock_ready
from invoicing_service.service.units import Finish
from invoicing_service.store.records import SubscriptionRecord, TestClockRecord
from invoicing_service.store.unit import InvoicingUnit, OnConnection

log = structlog.get_logger("drawdown.invoicing.scheduler")

TICK_SECONDS = 1.0
# A saga step untouched for this long is taken to be abandoned (its process died, or
# its peer was down) and is completed by the recovery sweep.
RECOVERY_AGE = timedelta(seconds=30)
EXPIRY_SWEEP_EVERY = timedelta(seconds=60)
# How often the balance watches of every customer are evaluated: usage sent to
# metering directly changes a balance without invoicing taking part.
WATCH_SWEEP_EVERY = timedelta(seconds=10)
# Concurrent claimers per replica: each works on one row at a time.
WORKERS = 4


class Scheduler:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing
        # The first expiry sweep waits one period: credits derives available balances
        # without it (C-20), and a fresh replica need not post expiries at once.
        self._last_expiry_sweep = billing.clock.now()
        self._authorizations = UsageAuthorizations(billing)
        self._watches = BalanceWatches(billing)
        self._last_watch_sweep = billing.clock.now()

    async def run(self, shutting_down: asyncio.Event) -> None:
        """Tick until shutdown; a failing tick is logged and retried on the next."""
        while not shutting_down.is_set():
            try:
                await self.tick()
            except DomainError as error:
                log.warning("scheduler.tick_failed", reason=error.reason)
            except Exception:
                log.exception("scheduler.tick_crashed")
            try:
                await asyncio.wait_for(shutting_down.wait(), timeout=TICK_SECONDS)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """One pass over everything due on the wall clock."""
        now = self._billing.clock.now()
        await _all(self._billing.drafting.close_due_periods(now) for _ in range(WORKERS))
        await _all(self._billing.finalization.finalize_due_drafts(now) for _ in range(WORKERS))
        await self._billing.recovery.recover_in_flight(RECOVERY_AGE)
        await self._authorizations.expire_due(now)
        await self._authorizations.complete_stuck_captures(RECOVERY_AGE)
        if now - self._last_expiry_sweep >= EXPIRY_SWEEP_EVERY:
            async with self._billing.database.unit_of_work() as uow:
                on_clocks = await uow.test_clocks.all_clock_customer_ids()
            await self._billing.downstream.credits.expire_due_grants(
                now, customer_ids=(), exclude_customer_ids=on_clocks, request_id=f"expire:{now.isoformat()}"
            )
            self._last_expiry_sweep = now
        if now - self._last_watch_sweep >= WATCH_SWEEP_EVERY:
            await self._watches.evaluate_all()
            self._last_watch_sweep = now


def _digest(values: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(values).encode()).hexdigest()[:16]


async def _all(workers: Iterable[Awaitable[int]]) -> None:
    """Run the workers to the end, then raise the first failure (the tick logs it)."""
    outcomes = await asyncio.gather(*workers, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


@dataclass
class _SetAside:
    """What one advance set aside (X-6), so that it runs every other action due: the
    subscriptions whose period could not be closed, the drafts (by subscription and period
    start) that could not be finalized. The next advance tries them again."""

    subscriptions: set[str] = field(default_factory=set)
    drafts: set[tuple[str, datetime]] = field(default_factory=set)


class TestClockAdvance:
    """Runs a test clock forward through every action due, in time order (I-16, I-18)."""

    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def advance(
        self,
        billing: Billing,
        clock_id: str,
        new_time: datetime,
        finish: Finish,
        deadline: Deadline = NO_DEADLINE,
    ) -> Any:
        """Advance the clock, ``billing`` running every unit of work on one connection
        (``Billing.one_connection``), which also holds the clock's lease.

        Checks the new time (TEST_CLOCK_BACKWARDS, INVALID_FROZEN_TIME, ADVANCE_TOO_FAR:
        two intervals of the shortest subscription on the clock), marks the clock
        ADVANCING (committed at once, so other writers see it), tells metering and credits
        the new time (I-18), then runs every due action up to ``new_time``, each as of its
        own due time; a subscription or draft that cannot be billed is set aside with its
        reason and the others run (X-6). Then the clock's customers' balance watches are
        evaluated at ``new_time`` (R-6, R-7). Last, ``finish`` sets the clock READY at
        ``new_time``. The clock's frozen_time follows the last completed action; a failure
        leaves INTERNAL_FAILURE and a later advance resumes from there, telling the peers
        again, as it does after a process died mid-advance (the lease is free then)."""
        async with self._lease(billing, clock_id):
            async with billing.database.unit_of_work() as uow:
                clock = await uow.test_clocks.get(clock_id, for_update=True)
                # ADVANCING with the lease free: the advancing process died; resume.
                on_clock = await uow.subscriptions.active_on_clock(clock_id)
                validate_advance(
                    clock.frozen_time,
                    new_time,
                    [(s.items[0].price.interval, s.items[0].price.interval_count) for s in on_clock],
                )
                await uow.test_clocks.update(
                    clock_id, now=billing.clock.now(), status=TestClockStatus.ADVANCING
                )
                customer_ids = await uow.test_clocks.customer_ids(clock_id)
                await uow.commit()
            reached = clock.frozen_time
            try:
                await billing.downstream.set_test_clock_time(
                    clock_id,
                    new_time,
                    customer_ids,
                    f"advance:{clock_id}:{new_time.isoformat()}:{_digest(customer_ids)}",
                    deadline,
                )
                set_aside = _SetAside()
                while (action := await self._next_action(billing, clock_id, new_time, set_aside)) is not None:
                    await self._expire_due(billing, clock_id, action.at)
                    await self._run(billing, action, set_aside)
                    # A draft set aside by an earlier advance may be due before the clock's time.
                    reached = max(reached, action.at)
                    await self._set(billing, clock_id, frozen_time=reached)
                await self._expire_due(billing, clock_id, new_time)
                # The balance watches judge the balance at the new time, which credits and
                # metering already hold: the clock reaches it before they are evaluated.
                await self._set(billing, clock_id, frozen_time=new_time)
                await BalanceWatches(billing).evaluate_all(test_clock_id=clock_id)

                async def ready(uow: InvoicingUnit) -> TestClockRecord:
                    clock = await uow.test_clocks.update(
                        clock_id, now=billing.clock.now(), frozen_time=new_time, status=TestClockStatus.READY
                    )
                    test_clock_ready(uow, clock)
                    return clock

                return await finish(ready)
            except BaseException:
                await self._set(billing, clock_id, status=TestClockStatus.INTERNAL_FAILURE)
                raise

    @asynccontextmanager
    async def _lease(self, billing: Billing, clock_id: str) -> AsyncIterator[None]:
        """Hold the clock's advance lease: a session-level advisory lock on the call's
        connection, which PostgreSQL also releases when the process holding it dies.
        Taken: another advance of the clock is running (TEST_CLOCK_ADVANCING)."""
        connection = billing.database
        assert isinstance(connection, OnConnection), "an advance runs on one connection"
        lease = f"drawdown.test_clock:{clock_id}"
        if not await connection.try_lock(lease):
            raise FailedPrecondition(
                f"test clock {clock_id} is being advanced",
                reason=reasons.TEST_CLOCK_ADVANCING,
                metadata={"id": clock_id},
            )
        try:
            yield
        finally:
            if not await connection.unlock(lease):
                log.warning("test_clock.unlock_failed", clock_id=clock_id)

    async def _next_action(
        self, billing: Billing, clock_id: str, until: datetime, set_aside: _SetAside
    ) -> DueAction | None:
        async with billing.database.unit_of_work() as uow:
            schedules = await self._schedules(billing, uow, clock_id, set_aside)
        actions = due_actions(schedules, until)
        return actions[0] if actions else None

    async def _schedules(
        self, billing: Billing, uow: InvoicingUnit, clock_id: str, set_aside: _SetAside
    ) -> list[BillingSchedule]:
        subscriptions = {s.id: s for s in await uow.subscriptions.active_on_clock(clock_id)}
        drafts: dict[str, list[PendingDraft]] = {}
        for _, subscription_id, period, finalize_at in await uow.invoices.drafts_on_clock(clock_id):
            if (subscription_id, period.start) in set_aside.drafts:
                continue
            drafts.setdefault(subscription_id, []).append(PendingDraft(period, finalize_at))
            if subscription_id not in subscriptions:
                subscriptions[subscription_id] = await uow.subscriptions.get(subscription_id)
        schedules = []
        for subscription in subscriptions.values():
            schedules.append(
                await self._schedule(
                    billing,
                    uow,
                    subscription,
                    tuple(drafts.get(subscription.id, ())),
                    closes=subscription.id not in set_aside.subscriptions,
                )
            )
        return schedules

    async def _schedule(
        self,
        billing: Billing,
        uow: InvoicingUnit,
        subscription: SubscriptionRecord,
        drafts: tuple[PendingDraft, ...],
        *,
        closes: bool,
    ) -> BillingSchedule:
        price = subscription.items[0].price
        active = subscription.status.value == "active"
        return BillingSchedule(
            subscription_id=subscription.id,
            anchor=subscription.billing_cycle_anchor,
            interval=price.interval,
            interval_count=price.interval_count,
            grace_period=await billing.drafting.grace_period(uow, subscription),
            current_period=subscription.current_period if active and closes else None,
            cancel_at=subscription.current_period.end if subscription.cancel_at_period_end else None,
            pending_drafts=drafts,
        )

    async def _run(self, billing: Billing, action: DueAction, set_aside: _SetAside) -> None:
        if action.kind is ActionKind.CLOSE_PERIOD:
            closed = await billing.drafting.close_period(action.subscription_id, action.at)
            if closed.set_aside is not None:
                set_aside.subscriptions.add(action.subscription_id)
            return
        async with billing.database.unit_of_work() as uow:
            invoice_id = await uow.invoices.draft_of_period(action.subscription_id, action.period)
        try:
            await billing.finalization.finalize(invoice_id, as_of=action.at)
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error):
                raise
            if error.reason != reasons.INVALID_INVOICE_STATUS:  # finalized meanwhile: nothing left to do
                await billing.finalization.set_aside_invoices({invoice_id: error})
            set_aside.drafts.add((action.subscription_id, action.period.start))

    async def _expire_due(self, billing: Billing, clock_id: str, as_of: datetime) -> None:
        """Expire the clock's usage authorizations and its customers' grants due by ``as_of``."""
        await UsageAuthorizations(billing).expire_due(as_of, test_clock_id=clock_id)
        async with billing.database.unit_of_work() as uow:
            customer_ids = await uow.test_clocks.customer_ids(clock_id)
        if customer_ids:
            await billing.downstream.credits.expire_due_grants(
                as_of,
                customer_ids=customer_ids,
                exclude_customer_ids=(),
                # Keyed by the customers too: one added after a failed advance is a new request.
                request_id=f"expire:{clock_id}:{as_of.isoformat()}:{_digest(customer_ids)}",
            )

    async def _set(self, billing: Billing, clock_id: str, **values: object) -> None:
        async with billing.database.unit_of_work() as uow:
            await uow.test_clocks.update(clock_id, now=billing.clock.now(), **values)
            await uow.commit()
