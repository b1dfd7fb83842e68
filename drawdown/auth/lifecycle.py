"""API key lifecycle (O-3): create, list, revoke and rotate, on one transaction each.

The ApiKeyService of every service and the ``drawdown keys`` commands both run these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.auth import reasons, store
from drawdown.auth.roles import Role
from drawdown.auth.store import ApiKey
from drawdown.clock import Clock
from drawdown.errors import FailedPrecondition, InvalidArgument, NotFound


@dataclass(frozen=True)
class NewKey:
    """A created key and its token, shown once."""

    key: ApiKey
    token: str


@dataclass(frozen=True)
class Rotation:
    """The key that replaces another, and the replaced key with its new expiry."""

    new: NewKey
    rotated: ApiKey


def check_expire_time(expire_at: datetime | None, now: datetime, field: str = "expire_time") -> None:
    """A key's expiry, when it has one, lies ahead (O-3)."""
    if expire_at is not None and expire_at <= now:
        raise InvalidArgument.for_field(
            field, "must be in the future", reason=reasons.EXPIRE_TIME_NOT_IN_FUTURE
        )


def rotated_expiry(current: datetime | None, now: datetime, overlap: timedelta) -> datetime:
    """When a rotated key stops working: once the overlap has passed, never later than it
    would have (O-3)."""
    end = now + overlap
    return end if current is None else min(current, end)


class ApiKeys:
    """The key store's use cases, on the caller's transaction and clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def create(
        self, session: AsyncSession, role: Role, label: str, expire_at: datetime | None
    ) -> NewKey:
        now = self._clock.now()
        check_expire_time(expire_at, now)
        key, token = await store.insert_key(session, role, label, now, expire_at)
        return NewKey(key, token)

    async def list(
        self, session: AsyncSession, before: tuple[datetime, str] | None, limit: int
    ) -> Sequence[ApiKey]:
        return await store.list_keys(session, before, limit)

    async def revoke(self, session: AsyncSession, key_id: str) -> ApiKey:
        key = await self._locked(session, key_id)
        if key.revoked_at is not None:
            return key
        return await store.update_key(session, key_id, revoked_at=self._clock.now())

    async def rotate(
        self, session: AsyncSession, key_id: str, overlap: timedelta, expire_at: datetime | None
    ) -> Rotation:
        now = self._clock.now()
        if overlap < timedelta(0):
            raise InvalidArgument.for_field("overlap", "must not be negative")
        check_expire_time(expire_at, now)
        old = await self._locked(session, key_id)
        if old.revoked_at is not None:
            raise FailedPrecondition(f"API key {key_id} is revoked", reason=reasons.API_KEY_REVOKED)
        if old.expire_at is not None and old.expire_at <= now:
            raise FailedPrecondition(f"API key {key_id} has expired", reason=reasons.API_KEY_EXPIRED)
        rotated = await store.update_key(
            session, key_id, expire_at=rotated_expiry(old.expire_at, now, overlap)
        )
        key, token = await store.insert_key(session, old.role, old.label, now, expire_at)
        return Rotation(NewKey(key, token), rotated)

    async def _locked(self, session: AsyncSession, key_id: str) -> ApiKey:
        key = await store.locked_key(session, key_id)
        if key is None:
            raise NotFound(
                f"no API key {key_id!r}", reason=reasons.API_KEY_NOT_FOUND, metadata={"id": key_id}
            )
        return key
