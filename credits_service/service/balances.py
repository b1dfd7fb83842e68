"""Balance and transaction reads (C-20..C-22)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from credits_service.domain import reasons
from credits_service.domain.balances import CurrencyBalance
from credits_service.domain.limits import clip
from credits_service.service.grants import grant_not_found
from credits_service.store.ledger import TransactionRecord
from credits_service.store.unit import RawReading, reading
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import NotFound


@dataclass(frozen=True)
class BalanceFilter:
    """Which grants a summary counts (C-21): one grant, or a scope (None: every grant)."""

    grant_id: str = ""
    price_ids: Sequence[str] | None = None


class BalanceUseCases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def summary(
        self, customer_id: str, selected: BalanceFilter, as_of: datetime | None
    ) -> list[CurrencyBalance]:
        """C-21: available and ledger balance per currency over the selected grants, at
        ``as_of`` or else the customer's now (its test clock's time, I-18): one statement
        on a raw pooled connection, the hot read."""
        async with RawReading(self._database) as uow:
            balances = await uow.balances.summary(
                customer_id,
                as_of,
                self._clock.now(),
                grant_id=selected.grant_id,
                price_ids=selected.price_ids,
            )
        if selected.grant_id and not balances:
            raise grant_not_found(selected.grant_id)  # no such grant, or another customer's
        return balances

    async def transactions(
        self, customer_id: str, grant_id: str, after: list[object] | None, limit: int
    ) -> list[TransactionRecord]:
        """C-22: newest first, the customer's or one of its grants'."""
        async with reading(self._database) as uow:
            if grant_id and await uow.grants.customer_of(grant_id) != customer_id:
                raise grant_not_found(grant_id)
            return await uow.ledger.page(customer_id, grant_id, after, limit)

    async def transaction(self, transaction_id: str) -> TransactionRecord:
        async with reading(self._database) as uow:
            found = await uow.ledger.transaction(transaction_id)
        if found is None:
            raise NotFound(
                f"credit balance transaction {clip(transaction_id)!r} not found",
                reason=reasons.TRANSACTION_NOT_FOUND,
                metadata={"id": clip(transaction_id)},
            )
        return found
