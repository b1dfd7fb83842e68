"""Fixtures for the metering domain tests: the Hypernian meters and a look-up over them."""

from __future__ import annotations

import pytest

from metering_service.domain.events import MeterLookup
from metering_service.domain.meters import Aggregation, Meter
from tests.unit.metering.meter_builders import make_meter


@pytest.fixture
def tokens_meter() -> Meter:
    """A sum meter on ``hypernian_input_tokens`` with one dimension, ``model``."""
    return make_meter()


@pytest.fixture
def requests_meter() -> Meter:
    """A count meter on ``hypernian_requests``."""
    return make_meter(Aggregation.COUNT, event_name="hypernian_requests", dimension_keys=())


@pytest.fixture
def meter_lookup(tokens_meter: Meter, requests_meter: Meter) -> MeterLookup:
    """Finds the two active meters by event name."""
    return {meter.event_name: meter for meter in (tokens_meter, requests_meter)}.get
