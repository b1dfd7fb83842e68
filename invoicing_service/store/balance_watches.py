"""The state of each balance watch of a customer (R-6, R-7)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from invoicing_service.domain.balance_watches import WatchState
from invoicing_service.store.schema import balance_watch_states as S


class BalanceWatchStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def states(self, customer_id: str) -> dict[str, WatchState]:
        """By watch key; a watch without a row has never acted (armed)."""
        rows = await self._session.execute(sa.select(S).where(S.c.customer_id == customer_id))
        return {row.watch: WatchState(row.armed, row.month, row.topped_up_minor) for row in rows}

    async def save(self, customer_id: str, states: Mapping[str, WatchState], now: datetime) -> None:
        if not states:
            return
        statement = insert(S).values(
            [
                {
                    "customer_id": customer_id,
                    "watch": watch,
                    "armed": state.armed,
                    "month": state.month,
                    "topped_up_minor": state.topped_up,
                    "update_time": now,
                }
                for watch, state in states.items()
            ]
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[S.c.customer_id, S.c.watch],
                set_={
                    "armed": statement.excluded.armed,
                    "month": statement.excluded.month,
                    "topped_up_minor": statement.excluded.topped_up_minor,
                    "update_time": statement.excluded.update_time,
                },
            )
        )
