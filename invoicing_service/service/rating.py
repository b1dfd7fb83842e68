"""Rating: a subscription's lines for a period, from metering's usage and the items'
quantities (I-10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import structlog

from drawdown import ids
from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.errors import DomainError
from invoicing_service.adapters.metering import Metering, UsageQuery
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.domain.invoices import InvoiceLine, LineKind, MeteredUsage, draft_lines
from invoicing_service.domain.periods import Period, metering_range
from invoicing_service.domain.prices import UsageType, billed_units
from invoicing_service.domain.subscriptions import SubscriptionItem
from invoicing_service.service.batches import set_aside_worthy
from invoicing_service.store.records import StoredLine, SubscriptionRecord
from invoicing_service.store.unit import InvoicingUnit

log = structlog.get_logger("drawdown.invoicing.billing")


@dataclass(frozen=True)
class Rated:
    """A job's rated lines, or why it could not be rated: a domain error (a line beyond
    what an invoice holds, metering refusing the query) or a peer's failure."""

    lines: tuple[StoredLine, ...] = ()
    error: DomainError | PeerFailure | None = None


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


class Rating:
    """Rates lines with usage read from metering."""

    def __init__(self, metering: Metering) -> None:
        self._metering = metering

    async def subscription_lines(
        self,
        uow: InvoicingUnit,
        subscription: SubscriptionRecord,
        items: Sequence[SubscriptionItem],
        *,
        usage_period: Period | None,
        advance_period: Period | None,
        deadline: Deadline = NO_DEADLINE,
    ) -> tuple[StoredLine, ...]:
        """Rated lines for one subscription's ``items`` (see ``rate_lines``); a line that
        cannot be billed raises its error (FailedPrecondition LINE_AMOUNT_TOO_LARGE ...)."""
        job = LinesToRate(subscription, items, usage_period, advance_period)
        return await self.lines_for(job, await self.product_names(uow, [job]), deadline)

    async def lines_for(
        self, job: LinesToRate, names: Mapping[str, str], deadline: Deadline
    ) -> tuple[StoredLine, ...]:
        """``subscription_lines`` outside a unit of work: ``names`` read beforehand, so that a
        read (a preview, a live balance) holds no connection while metering answers."""
        (rated,) = await self.rate([job], names, deadline)
        if rated.error is not None:
            raise rated.error
        return rated.lines

    async def product_names(self, uow: InvoicingUnit, jobs: Sequence[LinesToRate]) -> dict[str, str]:
        """The product name of each price of the jobs, for line descriptions."""
        return await uow.catalog.product_names_of_prices(
            {item.price_id for job in jobs for item in job.items}
        )

    async def rate_lines(
        self, uow: InvoicingUnit, jobs: Sequence[LinesToRate], deadline: Deadline = NO_DEADLINE
    ) -> list[Rated]:
        """Rated lines for each job: metered usage read from metering for exactly its
        ``usage_period`` (I-10), all jobs' usage in one batch, and licensed quantities
        for its ``advance_period``. A job that cannot be rated carries its error; one
        that fails does not fail the others (X-6)."""
        return await self.rate(jobs, await self.product_names(uow, jobs), deadline)

    async def rate(
        self, jobs: Sequence[LinesToRate], names: Mapping[str, str], deadline: Deadline
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
            quantities = await self._metering.usage(queries, deadline) if queries else []
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error) or len(jobs) <= 1:
                raise
            # Metering refused the batch: ask for each job alone, so that only the job it
            # refuses is left out.
            log.warning("usage.batch_refused", reason=error.reason)
            return [await self._rate_alone(job, names, deadline) for job in jobs]
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

    async def _rate_alone(self, job: LinesToRate, names: Mapping[str, str], deadline: Deadline) -> Rated:
        try:
            (rated,) = await self.rate([job], names, deadline)
        except (DomainError, PeerFailure) as error:
            if not set_aside_worthy(error):
                raise
            return Rated(error=error)
        return rated


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


def _describe(product_name: str, line: InvoiceLine) -> str:
    return f"{product_name} ({line.period.start:%Y-%m-%d %H:%M} – {line.period.end:%Y-%m-%d %H:%M} UTC)"
