"""The meters repository: rows of ``metering.meters`` as ``domain.meters.Meter`` values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from drawdown.db.engine import fetch
from drawdown.errors import AlreadyExists, NotFound
from metering_service.domain import reasons
from metering_service.domain.meters import Aggregation, Meter, MeterStatus, TimeWindow
from metering_service.store.schema import meters

_EVENT_NAME_INDEX = "meters_event_name_key"


def meter_from_row(row: sa.Row) -> Meter:
    return Meter(
        id=row.id,
        display_name=row.display_name,
        event_name=row.event_name,
        aggregation=Aggregation(row.aggregation),
        customer_key=row.customer_key,
        value_key=row.value_key,
        dimension_keys=tuple(row.dimension_keys),
        event_time_window=TimeWindow(row.event_time_window) if row.event_time_window else None,
        status=MeterStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deactivated_at=row.deactivated_at,
    )


def _values(meter: Meter) -> dict[str, object]:
    return {
        "id": meter.id,
        "display_name": meter.display_name,
        "event_name": meter.event_name,
        "aggregation": meter.aggregation.value,
        "customer_key": meter.customer_key,
        "value_key": meter.value_key,
        "dimension_keys": list(meter.dimension_keys),
        "event_time_window": meter.event_time_window.value if meter.event_time_window else None,
        "status": meter.status.value,
        "created_at": meter.created_at,
        "updated_at": meter.updated_at,
        "deactivated_at": meter.deactivated_at,
    }


_METERS_BY_EVENT_NAME = f"""
SELECT {", ".join(meters.c.keys())} FROM metering.meters WHERE event_name = ANY(%(names)s)
"""


class MeterRepository:
    """The meters of one unit of work's transaction: its session, and the session's
    connection for the constant SQL of the ingest path."""

    __slots__ = ("_connection", "_session")

    def __init__(self, session: AsyncSession, connection: AsyncConnection) -> None:
        self._session = session
        self._connection = connection

    async def insert(self, meter: Meter) -> None:
        """Store a new meter; the unique index on event_name is the guarantee of M-1."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(sa.insert(meters).values(**_values(meter)))
        except IntegrityError as exc:
            if _EVENT_NAME_INDEX in str(exc.orig):
                raise AlreadyExists(
                    f"a meter with event_name {meter.event_name!r} already exists",
                    reason=reasons.EVENT_NAME_TAKEN,
                    metadata={"event_name": meter.event_name},
                ) from None
            raise

    async def save(self, meter: Meter) -> None:
        """Write the mutable state of an existing meter (display name, status, times)."""
        await self._session.execute(
            sa.update(meters)
            .where(meters.c.id == meter.id)
            .values(
                display_name=meter.display_name,
                status=meter.status.value,
                updated_at=meter.updated_at,
                deactivated_at=meter.deactivated_at,
            )
        )

    async def get(self, meter_id: str, *, for_update: bool = False) -> Meter:
        """The meter, or NOT_FOUND METER_NOT_FOUND."""
        query = sa.select(meters).where(meters.c.id == meter_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"no meter {meter_id!r}", reason=reasons.METER_NOT_FOUND, metadata={"meter_id": meter_id}
            )
        return meter_from_row(row)

    async def by_event_name(self, event_names: Iterable[str]) -> dict[str, Meter]:
        """The meters of these event names, by event name (one query per batch; constant SQL
        on the driver, as every ingested batch and group of single events asks it)."""
        rows = await fetch(self._connection, _METERS_BY_EVENT_NAME, {"names": list(set(event_names))})
        return {row.event_name: meter_from_row(row) for row in rows}

    async def list(
        self, status: MeterStatus | None, after: Sequence[object] | None, limit: int
    ) -> list[Meter]:
        """Meters newest first (created_at, id descending), after the keyset ``after``."""
        query = sa.select(meters).order_by(meters.c.created_at.desc(), meters.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(meters.c.status == status.value)
        if after is not None:
            created_at, meter_id = after
            query = query.where(sa.tuple_(meters.c.created_at, meters.c.id) < sa.tuple_(created_at, meter_id))
        return [meter_from_row(row) for row in await self._session.execute(query)]
