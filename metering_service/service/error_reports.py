"""Error reports of refused meter events (E-6): counted in memory as ingestion answers
them, written as ``meter.error_report`` events once their window has ended.

Each process reports the refusals it answered (the reports of one window from several
processes add up) and writes them in one unit of work per flush, off the ingest path. A
process killed mid-window loses that window's reports; its callers were told of each
refusal when it was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime

import structlog

from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.events import types
from metering_service.domain.error_reports import (
    ErrorTally,
    Refusal,
    WindowTally,
    error_reports,
    report_window,
)

log = structlog.get_logger("metering.error_reports")


# How often the background task looks for windows that have ended: a report is written
# within this long of its window's end, by the service clock (which tests move).
FLUSH_CHECK_SECONDS = 1.0
# How long a stopping server waits for the database to take the last reports.
FINAL_FLUSH_SECONDS = 5.0


class ErrorReports:
    """The refusals of this process, by window, and their writing as events."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._tally = ErrorTally()
        self._writing = asyncio.Lock()

    def count(self, refusals: Iterable[Refusal]) -> None:
        """Count a call's refused events in the current window."""
        self._tally.add(report_window(self._clock.now()), refusals)

    async def flush_ended(self, now: datetime | None = None) -> int:
        """Write the reports of the windows that ended by ``now`` (the clock's time by
        default); the number of reports written."""
        async with self._writing:
            return await self._write(self._tally.take_ended(now or self._clock.now()))

    async def flush_all(self) -> int:
        """Write every report held, the current window's too (at shutdown)."""
        async with self._writing:
            return await self._write(self._tally.take_all())

    async def _write(self, windows: dict[datetime, WindowTally]) -> int:
        reports = error_reports(windows)
        if not reports:
            return 0
        try:
            async with self._database.unit_of_work() as uow:
                for report in reports:
                    uow.outbox.record(types.METER_ERROR_REPORT, report)
                await uow.commit()
        except BaseException:
            self._tally.give_back(windows)  # for the next flush
            raise
        return len(reports)

    async def run(self, shutting_down: asyncio.Event) -> None:
        """The background task: write each window's reports once it has ended, until
        shutdown (then :meth:`close` writes the rest)."""
        while not shutting_down.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutting_down.wait(), FLUSH_CHECK_SECONDS)
            try:
                # Shielded: a write the shutdown interrupts completes before close() writes.
                await asyncio.shield(self.flush_ended())
            except Exception as error:  # noqa: BLE001 - the database is away: kept for the next flush
                log.warning("error_reports.flush_failed", error=str(error))

    async def close(self) -> None:
        """At shutdown, once calls have drained: write the reports still held."""
        try:
            await asyncio.wait_for(self.flush_all(), FINAL_FLUSH_SECONDS)
        except Exception as error:  # noqa: BLE001 - stopping goes on; the reports are lost
            log.warning("error_reports.final_flush_failed", error=str(error))
