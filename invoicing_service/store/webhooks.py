"""Webhook endpoints, their deliveries and attempts, and how far each service's events were
fanned out (E-4, E-5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown import ids
from drawdown.errors import NotFound
from invoicing_service.domain import reasons
from invoicing_service.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    EndpointStatus,
    WebhookEndpoint,
)
from invoicing_service.store.schema import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
    webhook_sources,
)


@dataclass(frozen=True)
class NewDelivery:
    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for an attempt, with what the attempt sends and where."""

    delivery: Delivery
    endpoint: WebhookEndpoint
    body: bytes


class WebhookStore:
    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(sa.insert(webhook_endpoints).values(**_endpoint_columns(endpoint)))

    async def get_endpoint(self, endpoint_id: str, *, for_update: bool = False) -> WebhookEndpoint:
        query = sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"webhook endpoint {endpoint_id} does not exist",
                reason=reasons.WEBHOOK_ENDPOINT_NOT_FOUND,
                metadata={"id": endpoint_id},
            )
        return _endpoint(row)

    async def list_endpoints(self, after: Sequence[Any] | None, limit: int) -> list[WebhookEndpoint]:
        query = sa.select(webhook_endpoints)
        if after is not None:
            query = query.where(webhook_endpoints.c.id < after[0])
        rows = await self._session.execute(query.order_by(webhook_endpoints.c.id.desc()).limit(limit))
        return [_endpoint(row) for row in rows]

    async def enabled_endpoints(self) -> list[WebhookEndpoint]:
        rows = await self._session.execute(
            sa.select(webhook_endpoints).where(webhook_endpoints.c.status == EndpointStatus.ENABLED.value)
        )
        return [_endpoint(row) for row in rows]

    async def save_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(**_endpoint_columns(endpoint))
        )

    async def delete_endpoint(self, endpoint_id: str) -> None:
        await self._session.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))

    async def source_position(self, source: str) -> int | None:
        """How far ``source``'s events were fanned out; None before the first time."""
        return (
            await self._session.execute(
                sa.select(webhook_sources.c.position).where(webhook_sources.c.source == source)
            )
        ).scalar()

    async def advance_source(self, source: str, position: int, now: datetime) -> None:
        statement = insert(webhook_sources).values(source=source, position=position, update_time=now)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[webhook_sources.c.source],
                set_={"position": statement.excluded.position, "update_time": now},
            )
        )

    async def add_deliveries(self, deliveries: Sequence[NewDelivery], now: datetime) -> None:
        """Queue each delivery, due now; one that is queued already stays as it is."""
        if not deliveries:
            return
        await self._session.execute(
            insert(webhook_deliveries)
            .values(
                [
                    {
                        "id": ids.new_id(ids.WEBHOOK_DELIVERY),
                        "endpoint_id": d.endpoint_id,
                        "event_id": d.event_id,
                        "event_type": d.event_type,
                        "body": d.body,
                        "status": DeliveryStatus.PENDING.value,
                        "next_attempt_time": now,
                        "create_time": now,
                    }
                    for d in deliveries
                ]
            )
            .on_conflict_do_nothing(constraint="webhook_deliveries_once_per_endpoint")
        )

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[DueDelivery]:
        """Up to ``limit`` pending deliveries of enabled endpoints due at ``now``, each moved
        ``lease`` later so that no other dispatcher takes it meanwhile (a dispatcher that
        dies mid-attempt leaves it to be taken again once the lease ends)."""
        due = (
            sa.select(webhook_deliveries.c.id)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
                webhook_deliveries.c.next_attempt_time <= now,
                webhook_endpoints.c.status == EndpointStatus.ENABLED.value,
            )
            .order_by(webhook_deliveries.c.next_attempt_time)
            .limit(limit)
            .with_for_update(of=webhook_deliveries, skip_locked=True)
        )
        claimed = (
            await self._session.execute(
                sa.update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_time=now + lease)
                .returning(webhook_deliveries)
            )
        ).all()
        if not claimed:
            return []
        endpoints = {
            row.id: _endpoint(row)
            for row in await self._session.execute(
                sa.select(webhook_endpoints).where(
                    webhook_endpoints.c.id.in_({row.endpoint_id for row in claimed})
                )
            )
        }
        attempts = await self._attempts([row.id for row in claimed])
        return [
            DueDelivery(_delivery(row, attempts.get(row.id, ())), endpoints[row.endpoint_id], row.body)
            for row in claimed
        ]

    async def record_attempt(self, delivery: Delivery) -> None:
        """Store ``delivery`` after its newest attempt."""
        attempt = delivery.attempts[-1]
        await self._session.execute(
            sa.insert(webhook_delivery_attempts).values(
                delivery_id=delivery.id,
                # Numbered here, not from the attempts read: a resend may overlap an attempt.
                attempt=sa.select(sa.func.coalesce(sa.func.max(webhook_delivery_attempts.c.attempt), 0) + 1)
                .where(webhook_delivery_attempts.c.delivery_id == delivery.id)
                .scalar_subquery(),
                attempt_time=attempt.attempt_time,
                http_status=attempt.http_status,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
        )
        await self.save_delivery(delivery)

    async def save_delivery(self, delivery: Delivery) -> None:
        await self._session.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(status=delivery.status.value, next_attempt_time=delivery.next_attempt_time)
        )

    async def delivery_of(self, endpoint_id: str, event_id: str, *, for_update: bool = False) -> Delivery:
        query = sa.select(webhook_deliveries).where(
            webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.event_id == event_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"webhook endpoint {endpoint_id} has no delivery of event {event_id}",
                reason=reasons.WEBHOOK_DELIVERY_NOT_FOUND,
                metadata={"webhook_endpoint_id": endpoint_id, "event_id": event_id},
            )
        return _delivery(row, (await self._attempts([row.id])).get(row.id, ()))

    async def list_deliveries(
        self, endpoint_id: str, event_id: str, after: Sequence[Any] | None, limit: int
    ) -> list[Delivery]:
        """Newest first, each with its attempts read in the same statement (so in one
        snapshot: an attempt committing meanwhile shows with the state it left)."""
        attempt = webhook_delivery_attempts.c
        attempts = (
            sa.select(
                sa.func.coalesce(
                    sa.func.json_agg(
                        aggregate_order_by(
                            sa.func.json_build_array(
                                attempt.attempt_time, attempt.http_status, attempt.error, attempt.duration_ms
                            ),
                            attempt.attempt,
                        )
                    ),
                    sa.text("'[]'::json"),
                )
            )
            .where(attempt.delivery_id == webhook_deliveries.c.id)
            .scalar_subquery()
        )
        query = sa.select(webhook_deliveries, attempts.label("attempts")).where(
            webhook_deliveries.c.endpoint_id == endpoint_id
        )
        if event_id:
            query = query.where(webhook_deliveries.c.event_id == event_id)
        if after is not None:
            query = query.where(webhook_deliveries.c.id < after[0])
        rows = (
            await self._session.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit))
        ).all()
        return [
            _delivery(
                row,
                tuple(
                    Attempt(
                        attempt_time=datetime.fromisoformat(time),
                        http_status=status,
                        error=error,
                        duration_ms=duration,
                    )
                    for time, status, error, duration in row.attempts
                ),
            )
            for row in rows
        ]

    async def _attempts(self, delivery_ids: Sequence[str]) -> dict[str, tuple[Attempt, ...]]:
        if not delivery_ids:
            return {}
        rows = await self._session.execute(
            sa.select(webhook_delivery_attempts)
            .where(webhook_delivery_attempts.c.delivery_id.in_(list(delivery_ids)))
            .order_by(webhook_delivery_attempts.c.delivery_id, webhook_delivery_attempts.c.attempt)
        )
        found: dict[str, list[Attempt]] = {}
        for row in rows:
            found.setdefault(row.delivery_id, []).append(
                Attempt(
                    attempt_time=row.attempt_time,
                    http_status=row.http_status,
                    error=row.error,
                    duration_ms=row.duration_ms,
                )
            )
        return {key: tuple(value) for key, value in found.items()}


def _endpoint_columns(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "status": endpoint.status.value,
        "secret": endpoint.secret,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "create_time": endpoint.create_time,
        "update_time": endpoint.update_time,
    }


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        url=row.url,
        event_types=tuple(row.event_types),
        description=row.description,
        status=EndpointStatus(row.status),
        secret=row.secret,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _delivery(row: Any, attempts: tuple[Attempt, ...]) -> Delivery:
    return Delivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=attempts,
        next_attempt_time=row.next_attempt_time,
        create_time=row.create_time,
    )
