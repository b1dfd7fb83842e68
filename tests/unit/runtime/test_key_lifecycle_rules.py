"""The API key lifecycle's rules (O-3) and the CLI's durations, as plain functions."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from drawdown.auth.lifecycle import check_expire_time, rotated_expiry
from drawdown.cli import duration
from drawdown.errors import InvalidArgument

T0 = datetime(2031, 3, 14, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("30d", timedelta(days=30)),
    ],
)
def test_durations_read_as_seconds_minutes_hours_or_days(text: str, expected: timedelta) -> None:
    assert duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "0m", "-5m", "1.5h", "15x", "m"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_an_expiry_must_lie_ahead() -> None:
    check_expire_time(None, T0)
    check_expire_time(T0 + timedelta(microseconds=1), T0)
    with pytest.raises(InvalidArgument) as raised:
        check_expire_time(T0, T0)
    assert raised.value.reason == "EXPIRE_TIME_NOT_IN_FUTURE"


def test_a_rotated_key_expires_after_the_overlap_never_later_than_it_would_have() -> None:
    assert rotated_expiry(None, T0, timedelta(0)) == T0
    assert rotated_expiry(None, T0, timedelta(hours=1)) == T0 + timedelta(hours=1)
    assert rotated_expiry(T0 + timedelta(minutes=5), T0, timedelta(hours=1)) == T0 + timedelta(minutes=5)
