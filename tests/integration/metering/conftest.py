"""Fixtures for metering API tests: the suite on a frozen clock, and stubs with an admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drawdown.clock import FrozenClock
from tests.integration.metering.metering_client import NOW, Metering
from tests.support.harness import bearer, start_suite


@pytest.fixture
def clock() -> FrozenClock:
    """The metering server's clock (X-3), frozen at NOW; tests move it."""
    return FrozenClock(NOW)


@pytest.fixture
async def metering(database_url: str, clock: FrozenClock) -> AsyncIterator[Metering]:
    """Real servers on 127.0.0.1 on the frozen clock, and metering stubs with an admin key."""
    async with start_suite(database_url, clock=clock) as suite:
        yield Metering(suite, bearer(suite.admin_key))
