"""What a service prunes as it runs (O-6, E-3): a background task per kind of record, each
deleting in small batches what is older than it is kept for, once an hour."""

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
    context.background.append(asyncio.create_task(_prune_forever(context, what, prune, keep_for)))


async def _prune_forever(
    context: ServiceContext, what: str, prune: Callable[[datetime], Awaitable[int]], keep_for: timedelta
) -> None:
    while not context.shutting_down.is_set():
        try:
            deleted = await prune(context.clock.now() - keep_for)
            if deleted:
                log.info("retention.pruned", what=what, deleted=deleted)
        except Exception as error:  # noqa: BLE001 - the database is away: next time
            log.warning("retention.prune_failed", what=what, error=str(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(context.shutting_down.wait(), PRUNE_EVERY_SECONDS)
