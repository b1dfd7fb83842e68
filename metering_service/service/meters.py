"""Meter use cases (M-1..M-4, M-17): one unit of work each; the rules live in ``domain.meters``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.events import types
from drawdown.pagination import decode_page_token, next_page, page_size
from metering_service.domain.meters import (
    Aggregation,
    Meter,
    MeterStatus,
    TimeWindow,
    apply_meter_update,
    deactivate_meter,
    reactivate_meter,
    validate_new_meter,
)
from metering_service.store.unit import MeteringUnit


@dataclass(frozen=True)
class MeterDraft:
    """A create request's meter fields, before validation."""

    display_name: str
    event_name: str
    aggregation: Aggregation | None
    customer_key: str
    value_key: str
    dimension_keys: tuple[str, ...]
    event_time_window: TimeWindow | None


class MeterUseCases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def create(self, uow: MeteringUnit, draft: MeterDraft) -> Meter:
        """A new active meter; its event_name must be free (EVENT_NAME_TAKEN, M-1)."""
        now = self._clock.now()
        meter = validate_new_meter(
            meter_id=ids.new_id(ids.METER),
            display_name=draft.display_name,
            event_name=draft.event_name,
            aggregation=draft.aggregation,
            customer_key=draft.customer_key,
            value_key=draft.value_key,
            dimension_keys=draft.dimension_keys,
            event_time_window=draft.event_time_window,
            now=now,
        )
        await uow.meters.insert(meter)
        uow.outbox.record(types.METER_CREATED, meter)
        return meter

    async def get(self, meter_id: str) -> Meter:
        async with self._database.unit_of_work() as uow:
            return await uow.meters.get(meter_id)

    async def list(
        self, status: MeterStatus | None, requested_size: int, token: str
    ) -> tuple[list[Meter], str]:
        """Meters newest first, keyset-paged (X-4); the status filter is folded into the token."""
        filters = [status]
        size, after = page_size(requested_size), decode_page_token(token, filters)
        async with self._database.unit_of_work() as uow:
            found = await uow.meters.list(status, after, size + 1)
        return next_page(found, size, lambda meter: [meter.created_at, meter.id], filters)

    async def update(
        self, uow: MeteringUnit, meter_id: str, update_mask: Sequence[str], display_name: str
    ) -> Meter:
        """Change the display name, the only mutable field (M-3)."""
        meter = await uow.meters.get(meter_id, for_update=True)
        updated = apply_meter_update(meter, update_mask, display_name=display_name, now=self._clock.now())
        if updated != meter:
            await uow.meters.save(updated)
            uow.outbox.record(types.METER_UPDATED, updated)
        return updated

    async def deactivate(self, uow: MeteringUnit, meter_id: str) -> Meter:
        """Stop accepting events (M-3); idempotent."""
        meter = await uow.meters.get(meter_id, for_update=True)
        changed = deactivate_meter(meter, self._clock.now())
        if changed != meter:
            await uow.meters.save(changed)
            uow.outbox.record(types.METER_DEACTIVATED, changed)
        return changed

    async def reactivate(self, uow: MeteringUnit, meter_id: str) -> Meter:
        """Accept events again, without back-fill (M-3); idempotent."""
        meter = await uow.meters.get(meter_id, for_update=True)
        changed = reactivate_meter(meter, self._clock.now())
        if changed != meter:
            await uow.meters.save(changed)
            uow.outbox.record(types.METER_REACTIVATED, changed)
        return changed
