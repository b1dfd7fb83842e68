"""What a service prunes as it runs (O-6, E-3): a background task per kind of record, each
deleting in small batches what is older than it is kept for (or, for meter events,
dropping whole partitions), once an hour."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from drawdown.rpc.server import ServiceContext

log = structlog.get_logger("drawdown.retention")

PRUNE_EVERY_SECONDS = 3600.0
# How long request ids are kept, but those of money movements (kept with the ledger).
REQUEST_ID_RETENTION = timedelta(days=30)


def prune_in_background(
    context: ServiceContext, what: str, prune: Callable[[datetime], Awaitable[int]], keep_for: timedelta
) -> None:
    """Run ``prune(older_than)`` hourly until the service stops (``what`` names it in logs)."""
    maintain_in_background(context, what, lambda now: prune(now - keep_for))


def maintain_in_background(
    context: ServiceContext, what: str, maintain: Callable[[datetime], Awaitable[int]]
) -> None:
    """Run ``maintain(now)`` (the service clock's now) at start, then hourly until the
    service stops; it returns how many records it pruned."""
    context.background.append(asyncio.create_task(_maintain_forever(context, what, maintain)))


async def _maintain_forever(
    context: ServiceContext, what: str, maintain: Callable[[datetime], Awaitable[int]]
) -> None:
    while not context.shutting_down.is_set():
        try:
            deleted = await maintain(context.clock.now())
            if deleted:
                log.info("retention.pruned", what=what, deleted=deleted)
        except Exception as error:  # noqa: BLE001 - the database is away: next time
            log.warning("retention.prune_failed", what=what, error=str(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(context.shutting_down.wait(), PRUNE_EVERY_SECONDS)
