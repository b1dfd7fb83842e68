"""Usage authorizations in the invoicing schema (R-1..R-5)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.errors import NotFound
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.authorizations import AuthorizationStatus, UsageAuthorization
from invoicing_service.store.schema import usage_authorizations as U


def _authorization(row: Any) -> UsageAuthorization:
    currency = row.currency
    return UsageAuthorization(
        id=row.id,
        customer_id=row.customer_id,
        test_clock_id=row.test_clock_id,
        price_id=row.price_id,
        meter_id=row.meter_id,
        status=AuthorizationStatus(row.status),
        authorized_quantity=_decimal(row.authorized_quantity),
        authorized_amount=Money(currency, row.authorized_amount_minor),
        sources=tuple((grant_id, Money(currency, minor)) for grant_id, minor in row.sources),
        spendable_after=Money(currency, row.spendable_after_minor),
        request_fingerprint=row.request_fingerprint,
        create_time=row.create_time,
        expire_time=row.expire_time,
        captured_quantity=_decimal(row.captured_quantity),
        captured_amount=None
        if row.captured_amount_minor is None
        else Money(currency, row.captured_amount_minor),
        quantity_estimated=row.quantity_estimated,
        end_time=row.end_time,
    )


def _decimal(value: Decimal | None) -> Decimal | None:
    """NUMERIC without a scale comes back with the scale it was stored with; normalized so
    that 100 and 100.0 compare and print alike (and 100 not as 1E+2)."""
    if value is None:
        return None
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized.as_tuple().exponent > 0 else normalized


class AuthorizationStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert(self, authorization: UsageAuthorization, now: datetime) -> bool:
        """Store it unless one with its id exists (a concurrent retry); whether it was stored."""
        statement = (
            insert(U)
            .values(
                id=authorization.id,
                customer_id=authorization.customer_id,
                test_clock_id=authorization.test_clock_id,
                price_id=authorization.price_id,
                meter_id=authorization.meter_id,
                status=str(authorization.status),
                currency=authorization.authorized_amount.currency,
                authorized_quantity=authorization.authorized_quantity,
                authorized_amount_minor=authorization.authorized_amount.minor,
                sources=[[grant_id, m.minor] for grant_id, m in authorization.sources],
                spendable_after_minor=authorization.spendable_after.minor,
                request_fingerprint=authorization.request_fingerprint,
                quantity_estimated=False,
                create_time=authorization.create_time,
                expire_time=authorization.expire_time,
                update_time=now,
            )
            .on_conflict_do_nothing(index_elements=[U.c.id])
            .returning(U.c.id)
        )
        return (await self._session.execute(statement)).first() is not None

    async def find(self, authorization_id: str) -> UsageAuthorization | None:
        row = (await self._session.execute(sa.select(U).where(U.c.id == authorization_id))).first()
        return None if row is None else _authorization(row)

    async def get(self, authorization_id: str, *, for_update: bool = False) -> UsageAuthorization:
        query = sa.select(U).where(U.c.id == authorization_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"usage authorization {authorization_id} does not exist",
                reason=reasons.USAGE_AUTHORIZATION_NOT_FOUND,
                metadata={"id": authorization_id},
            )
        return _authorization(row)

    async def save(self, authorization: UsageAuthorization, now: datetime) -> None:
        """Store what a capture, a release or an expiry changed."""
        await self._session.execute(
            sa.update(U)
            .where(U.c.id == authorization.id)
            .values(
                status=str(authorization.status),
                captured_quantity=authorization.captured_quantity,
                captured_amount_minor=None
                if authorization.captured_amount is None
                else authorization.captured_amount.minor,
                quantity_estimated=authorization.quantity_estimated,
                end_time=authorization.end_time,
                update_time=now,
            )
        )

    async def list(
        self, customer_id: str, status: AuthorizationStatus | None, after: Sequence[Any] | None, limit: int
    ) -> list[UsageAuthorization]:
        query = sa.select(U).where(U.c.customer_id == customer_id)
        if status is AuthorizationStatus.AUTHORIZED:  # a capture under way shows as authorized
            query = query.where(U.c.status.in_([str(status), str(AuthorizationStatus.CAPTURING)]))
        elif status is not None:
            query = query.where(U.c.status == str(status))
        if after is not None:
            query = query.where(sa.tuple_(U.c.create_time, U.c.id) < sa.tuple_(after[0], after[1]))
        rows = await self._session.execute(query.order_by(U.c.create_time.desc(), U.c.id.desc()).limit(limit))
        return [_authorization(row) for row in rows]

    async def expire_due(
        self, now: datetime, *, test_clock_id: str | None, limit: int = 1000
    ) -> list[UsageAuthorization]:
        """R-4: mark expired the authorizations past their expiry at ``now``: those on the
        wall clock (``test_clock_id`` None) or those of one test clock. Claimed with SKIP
        LOCKED, so that replicas sweep apart and a capture under way is left alone."""
        clock = U.c.test_clock_id.is_(None) if test_clock_id is None else U.c.test_clock_id == test_clock_id
        due = (
            sa.select(U.c.id)
            .where(U.c.status == str(AuthorizationStatus.AUTHORIZED), U.c.expire_time <= now, clock)
            .order_by(U.c.expire_time)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self._session.execute(
            sa.update(U)
            .where(U.c.id.in_(due))
            .values(status=str(AuthorizationStatus.EXPIRED), end_time=U.c.expire_time, update_time=now)
            .returning(U)
        )
        return [_authorization(row) for row in rows]

    async def stuck_captures(self, older_than: datetime, limit: int = 100) -> list[str]:
        """Captures whose first step is older than ``older_than`` (their process died, or a
        peer was down): the recovery sweep completes them."""
        rows = await self._session.execute(
            sa.select(U.c.id)
            .where(U.c.status == str(AuthorizationStatus.CAPTURING), U.c.update_time < older_than)
            .order_by(U.c.update_time)
            .limit(limit)
        )
        return list(rows.scalars())
