"""Builders for metering domain tests: the Hypernian meters, created at one fixed moment."""

from __future__ import annotations

from datetime import UTC, datetime

from metering_service.domain.meters import Aggregation, Meter, TimeWindow, validate_new_meter

RECEIVED_AT = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TOKENS = "hypernian_input_tokens"
JENNY = "cus_jenny"


def make_meter(
    aggregation: Aggregation = Aggregation.SUM,
    *,
    event_name: str = TOKENS,
    dimension_keys: tuple[str, ...] = ("model",),
    event_time_window: TimeWindow | None = None,
) -> Meter:
    """An active meter with the default customer and value keys, created at RECEIVED_AT."""
    return validate_new_meter(
        meter_id=f"mtr_{event_name}",
        display_name="Hypernian input tokens",
        event_name=event_name,
        aggregation=aggregation,
        dimension_keys=dimension_keys,
        event_time_window=event_time_window,
        now=RECEIVED_AT,
    )
