"""Error reports of refused meter events (E-6): counting per window, meter or unknown event
name and reason, bounded samples and names, and the writing of ended windows (kept when
the database refuses them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import TracebackType

import pytest

from drawdown.clock import FrozenClock
from metering_service.domain.error_reports import (
    MAX_SAMPLES,
    MAX_UNKNOWN_NAMES,
    ErrorReport,
    ErrorTally,
    ReasonCount,
    Refusal,
    error_reports,
    report_window,
)
from metering_service.service.error_reports import ErrorReports

T0 = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_e6_the_window_is_the_utc_minute() -> None:
    assert report_window(T0 + timedelta(seconds=59, microseconds=999_999)) == T0
    assert report_window(T0 + MINUTE) == T0 + MINUTE


def test_e6_refusals_are_counted_per_meter_or_unknown_name_and_reason() -> None:
    tally = ErrorTally()
    tally.add(
        T0,
        [
            Refusal("mtr_b", "requests", "METER_INACTIVE", "r-1"),
            Refusal("mtr_a", "tokens", "MISSING_VALUE", "t-1"),
            Refusal("", "tokns", "UNKNOWN_EVENT_NAME", "u-1"),
            Refusal("mtr_a", "tokens", "INVALID_VALUE", "t-2"),
            Refusal("mtr_a", "tokens", "MISSING_VALUE", ""),
        ],
    )
    tally.add(T0, [Refusal("mtr_a", "tokens", "MISSING_VALUE", "t-1")])
    assert error_reports(tally.take_all()) == [
        ErrorReport("", "tokns", T0, T0 + MINUTE, (ReasonCount("UNKNOWN_EVENT_NAME", 1, ("u-1",)),)),
        ErrorReport(
            "mtr_a",
            "tokens",
            T0,
            T0 + MINUTE,
            (ReasonCount("INVALID_VALUE", 1, ("t-2",)), ReasonCount("MISSING_VALUE", 3, ("t-1",))),
        ),
        ErrorReport("mtr_b", "requests", T0, T0 + MINUTE, (ReasonCount("METER_INACTIVE", 1, ("r-1",)),)),
    ]


def test_e6_samples_are_bounded_distinct_and_cut() -> None:
    tally = ErrorTally()
    tally.add(T0, [Refusal("mtr_a", "tokens", "INVALID_VALUE", f"e-{n}") for n in range(25)])
    tally.add(T0, [Refusal("mtr_a", "tokens", "IDENTIFIER_TOO_LONG", "x" * 500)])
    (report,) = error_reports(tally.take_all())
    too_long, invalid = report.reasons
    assert invalid == ReasonCount("INVALID_VALUE", 25, tuple(f"e-{n}" for n in range(MAX_SAMPLES)))
    assert too_long == ReasonCount("IDENTIFIER_TOO_LONG", 1, ("x" * 100,))


def test_e6_unknown_names_are_cut_and_bounded_per_window() -> None:
    tally = ErrorTally()
    names = [f"name_{n}" for n in range(MAX_UNKNOWN_NAMES + 5)]
    tally.add(T0, [Refusal("", name, "UNKNOWN_EVENT_NAME", "") for name in names])
    tally.add(
        T0, [Refusal("", "n" * 300, "STRING_TOO_LONG", ""), Refusal("", names[0], "UNKNOWN_EVENT_NAME", "")]
    )
    tally.add(T0, [Refusal("mtr_a", "tokens", "MISSING_VALUE", "")])  # meters are never folded
    reports = {(r.meter_id, r.event_name): r.reasons for r in error_reports(tally.take_all())}
    assert len(reports) == MAX_UNKNOWN_NAMES + 2
    assert reports[("", names[0])] == (ReasonCount("UNKNOWN_EVENT_NAME", 2, ()),)
    assert reports[("", "")] == (
        ReasonCount("STRING_TOO_LONG", 1, ()),
        ReasonCount("UNKNOWN_EVENT_NAME", 5, ()),
    )
    assert ("mtr_a", "tokens") in reports


def test_e6_only_ended_windows_are_taken_and_given_back_ones_merge() -> None:
    tally = ErrorTally()
    tally.add(T0, [Refusal("mtr_a", "tokens", "MISSING_VALUE", "a")])
    tally.add(T0 + MINUTE, [Refusal("mtr_a", "tokens", "MISSING_VALUE", "b")])
    assert tally.take_ended(T0 + MINUTE - timedelta(microseconds=1)) == {}
    taken = tally.take_ended(T0 + MINUTE)
    assert [r.window_start for r in error_reports(taken)] == [T0]
    tally.add(T0, [Refusal("mtr_a", "tokens", "MISSING_VALUE", "c")])  # counted late, meanwhile
    tally.give_back(taken)
    assert error_reports(tally.take_all()) == [
        ErrorReport("mtr_a", "tokens", T0, T0 + MINUTE, (ReasonCount("MISSING_VALUE", 2, ("a", "c")),)),
        ErrorReport(
            "mtr_a", "tokens", T0 + MINUTE, T0 + 2 * MINUTE, (ReasonCount("MISSING_VALUE", 1, ("b",)),)
        ),
    ]


class RecordingOutbox:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, object]] = []

    def record(self, type: str, subject: object) -> None:
        self.recorded.append((type, subject))


class RecordingDatabase:
    """Units of work whose committed events are kept in ``written``; refused while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.written: list[list[tuple[str, object]]] = []

    def unit_of_work(self) -> RecordingDatabase.Unit:
        return self.Unit(self)

    class Unit:
        def __init__(self, database: RecordingDatabase) -> None:
            self.database = database
            self.outbox = RecordingOutbox()

        async def __aenter__(self) -> RecordingDatabase.Unit:
            if self.database.down:
                raise ConnectionRefusedError("the database is away")
            return self

        async def __aexit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
        ) -> None:
            return None

        async def commit(self) -> None:
            self.database.written.append(self.outbox.recorded)


async def test_e6_ended_windows_are_written_in_one_unit_and_kept_while_the_database_is_away() -> None:
    database, clock = RecordingDatabase(), FrozenClock(T0 + timedelta(seconds=30))
    reports = ErrorReports(database, clock)  # type: ignore[arg-type]
    reports.count(
        [Refusal("mtr_a", "tokens", "MISSING_VALUE", "a"), Refusal("", "tokns", "UNKNOWN_EVENT_NAME", "")]
    )
    assert await reports.flush_ended() == 0  # the window has not ended
    clock.advance(MINUTE)
    reports.count([Refusal("mtr_a", "tokens", "MISSING_VALUE", "b")])
    database.down = True
    with pytest.raises(ConnectionRefusedError):
        await reports.flush_ended()
    database.down = False
    assert await reports.flush_ended() == 2
    (written,) = database.written
    assert [(type, report.event_name, report.window_start) for type, report in written] == [  # type: ignore[attr-defined]
        ("meter.error_report", "tokns", T0),
        ("meter.error_report", "tokens", T0),
    ]
    await reports.close()  # the current window's, at shutdown
    assert [report.window_start for _, report in database.written[1]] == [T0 + MINUTE]  # type: ignore[attr-defined]
    assert await reports.flush_all() == 0
