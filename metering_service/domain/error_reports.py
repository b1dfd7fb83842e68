"""Error reports of refused meter events (E-6): per window of one minute, and per meter
or per event_name that names no meter, how many events were refused for each reason,
with a few of their identifiers.

Counting is a few dictionary look-ups per refused event and nothing per accepted one. What a
window holds is bounded whatever callers send: reasons are few, samples are at most
``MAX_SAMPLES`` per reason and cut to ``MAX_SAMPLE_LENGTH``, and unknown event names are
cut to ``MAX_EVENT_NAME_LENGTH`` and at most ``MAX_UNKNOWN_NAMES`` per window, the rest
counted together under the empty event name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from drawdown.clock import ensure_utc
from metering_service.domain.events import MAX_IDENTIFIER_LENGTH
from metering_service.domain.meters import MAX_EVENT_NAME_LENGTH

REPORT_WINDOW = timedelta(minutes=1)
MAX_SAMPLES = 10
MAX_SAMPLE_LENGTH = MAX_IDENTIFIER_LENGTH
MAX_UNKNOWN_NAMES = 100


class Refusal(NamedTuple):
    """A refused event: its meter (empty when its event_name names none), its event_name,
    the reason and its identifier (empty when it had none)."""

    meter_id: str
    event_name: str
    reason: str
    identifier: str


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How many events of a report were refused for ``reason``, and some of their identifiers."""

    reason: str
    count: int
    sample_identifiers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """The events of one window refused for one meter (``meter_id``) or, with an empty
    ``meter_id``, for one event name that names no meter; reasons in name order."""

    meter_id: str
    event_name: str
    window_start: datetime
    window_end: datetime
    reasons: tuple[ReasonCount, ...]


def report_window(moment: datetime) -> datetime:
    """The start of the window ``moment`` falls in: its UTC minute (E-6)."""
    return ensure_utc(moment).replace(second=0, microsecond=0)


@dataclass(slots=True)
class _Refusals:
    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, identifier: str) -> None:
        self.count += 1
        self._sample(identifier[:MAX_SAMPLE_LENGTH])

    def merge(self, other: _Refusals) -> None:
        self.count += other.count
        for sample in other.samples:
            self._sample(sample)

    def _sample(self, sample: str) -> None:
        if sample and len(self.samples) < MAX_SAMPLES and sample not in self.samples:
            self.samples.append(sample)


# A window's refusals by (meter id or "", event name), then by reason.
WindowTally = dict[tuple[str, str], dict[str, _Refusals]]


class ErrorTally:
    """The refusals counted so far, by window (E-6); taken out as reports once written."""

    def __init__(self) -> None:
        self._windows: dict[datetime, WindowTally] = {}

    def add(self, window: datetime, refusals: Iterable[Refusal]) -> None:
        """Count events refused in ``window`` (a ``report_window``)."""
        tally = self._windows.get(window)
        if tally is None:
            tally = self._windows[window] = {}
        for meter_id, event_name, reason, identifier in refusals:
            source = (meter_id, event_name if meter_id else event_name[:MAX_EVENT_NAME_LENGTH])
            reasons = tally.get(source)
            if reasons is None:
                if not meter_id and _unknown_names(tally) >= MAX_UNKNOWN_NAMES:
                    source = ("", "")
                    reasons = tally.setdefault(source, {})
                else:
                    reasons = tally[source] = {}
            counted = reasons.get(reason)
            if counted is None:
                counted = reasons[reason] = _Refusals()
            counted.add(identifier)

    def take_ended(self, now: datetime) -> dict[datetime, WindowTally]:
        """Take out the windows that ended by ``now``."""
        ended = [window for window in self._windows if window + REPORT_WINDOW <= now]
        return {window: self._windows.pop(window) for window in sorted(ended)}

    def take_all(self) -> dict[datetime, WindowTally]:
        """Take out every window, the current one too."""
        windows, self._windows = dict(sorted(self._windows.items())), {}
        return windows

    def give_back(self, windows: dict[datetime, WindowTally]) -> None:
        """Put back windows taken out but not written, ahead of what was counted since."""
        for window, tally in windows.items():
            into = self._windows.setdefault(window, {})
            for source, reasons in tally.items():
                into_reasons = into.setdefault(source, {})
                for reason, refusals in reasons.items():
                    since = into_reasons.get(reason)
                    if since is not None:
                        refusals.merge(since)
                    into_reasons[reason] = refusals


def _unknown_names(tally: WindowTally) -> int:
    return sum(1 for meter_id, _ in tally if not meter_id)


def error_reports(windows: dict[datetime, WindowTally]) -> list[ErrorReport]:
    """One report per window and meter or unknown event name, in window, then meter id
    and event name order (E-6)."""
    return [
        ErrorReport(
            meter_id,
            event_name,
            window,
            window + REPORT_WINDOW,
            tuple(
                ReasonCount(reason, refusals.count, tuple(refusals.samples))
                for reason, refusals in sorted(reasons.items())
            ),
        )
        for window, tally in windows.items()
        for (meter_id, event_name), reasons in sorted(tally.items())
    ]
