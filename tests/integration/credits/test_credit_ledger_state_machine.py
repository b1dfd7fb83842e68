"""Random grant / hold / apply / release / reinstate / expire / void / sweep sequences
against the credits use cases and a real PostgreSQL: after every step, invariant C-23
holds for every grant and no balance is negative (C-20, C-23).

The use cases are called directly (no gRPC) to keep many steps fast; the API tests cover
the servers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from credits_service.api.convert import EVENT_DATA
from credits_service.domain.drawdown import Invoice, InvoiceLine
from credits_service.domain.grants import Applicability, GrantCategory
from credits_service.domain.ledger import check_invariant, ledger_balance
from credits_service.service.grants import GrantUseCases, NewGrant
from credits_service.service.invoices import BatchItem, InvoiceCreditUseCases
from credits_service.store.schema import EVENT_TABLES
from credits_service.store.unit import CreditRepositories, CreditsUnit
from drawdown.clock import FrozenClock
from drawdown.db.engine import Database
from drawdown.errors import FailedPrecondition
from drawdown.events.outbox import Outbox
from drawdown.money import Money

START = datetime(2030, 1, 1, tzinfo=UTC)
T = TypeVar("T")

invoices = st.integers(min_value=0, max_value=4)


class CreditsLedgerMachine(RuleBasedStateMachine):
    """One customer per example, one event loop and database pool for the whole test."""

    loop: asyncio.AbstractEventLoop
    database: Database

    def __init__(self) -> None:
        super().__init__()
        self.customer = f"cus_{uuid.uuid4().hex}"
        self.clock = FrozenClock(START)
        self.grants = GrantUseCases(self.database, self.clock)
        self.invoices = InvoiceCreditUseCases(self.database, self.clock)
        self.grant_ids: list[str] = []

    def run(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """Run a step; a refusal by a business rule (FailedPrecondition) is a valid outcome."""
        try:
            return self.loop.run_until_complete(work())
        except FailedPrecondition:
            return None

    def in_transaction(self, work: Callable[..., Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        async def unit() -> T:
            async with self.database.unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
                return result

        return unit

    def in_raw_transaction(self, work: Callable[..., Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        async def unit() -> T:
            async with self.database.transaction() as tx:
                result = await work(CreditRepositories.recording(tx, self.database))
                await tx.commit()
                return result

        return unit

    def invoice(self, number: int, amounts: list[int]) -> Invoice:
        now = self.clock.now()
        return Invoice(
            id=f"in_{self.customer}_{number}",
            customer_id=self.customer,
            currency="USD",
            period_end=now - timedelta(hours=1),
            as_of=now,
            lines=tuple(
                InvoiceLine(
                    line_id=f"il_{n}",
                    price_id="price_a",
                    amount=Money("USD", a),
                    is_metered_subscription_line=True,
                )
                for n, a in enumerate(amounts)
            ),
        )

    @rule(
        amount=st.integers(min_value=1, max_value=2000),
        priority=st.integers(min_value=0, max_value=2),
        promotional=st.booleans(),
        expires_in_hours=st.none() | st.integers(min_value=1, max_value=200),
    )
    def create_grant(
        self, amount: int, priority: int, promotional: bool, expires_in_hours: int | None
    ) -> None:
        now = self.clock.now()
        new = NewGrant(
            customer_id=self.customer,
            currency="USD",
            amount_minor=amount,
            name="",
            category=GrantCategory.PROMOTIONAL if promotional else GrantCategory.PAID,
            priority=priority,
            applicability=Applicability.every_metered_price(),
            effective_at=now - timedelta(days=1),
            expires_at=None if expires_in_hours is None else now + timedelta(hours=expires_in_hours),
            metadata={},
        )
        created = self.run(self.in_transaction(lambda uow: self.grants.create(uow, new)))
        assert created is not None
        self.grant_ids.append(created.grant.id)

    @rule(
        number=invoices, amounts=st.lists(st.integers(min_value=-100, max_value=1500), min_size=1, max_size=3)
    )
    def hold(self, number: int, amounts: list[int]) -> None:
        draft = self.invoice(number, amounts)
        self.run(self.in_raw_transaction(lambda uow: self.invoices.hold(uow, draft)))

    @rule(number=invoices, amounts=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=3))
    def apply(self, number: int, amounts: list[int]) -> None:
        final = self.invoice(number, amounts)
        applied = self.run(self.in_raw_transaction(lambda uow: self.invoices.apply(uow, final)))
        assert applied is not None
        assert all(entry.amount.minor > 0 for entry in applied.entries)

    @rule(
        numbers=st.lists(invoices, min_size=1, max_size=3, unique=True),
        amounts=st.lists(st.integers(min_value=-100, max_value=1500), min_size=1, max_size=2),
    )
    def batch_hold(self, numbers: list[int], amounts: list[int]) -> None:
        items = [BatchItem(index, self.invoice(number, amounts)) for index, number in enumerate(numbers)]
        self.run(self.in_raw_transaction(lambda uow: self.invoices.hold_batch(uow, items)))

    @rule(
        numbers=st.lists(invoices, min_size=1, max_size=3, unique=True),
        amounts=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=2),
    )
    def batch_apply(self, numbers: list[int], amounts: list[int]) -> None:
        items = [BatchItem(index, self.invoice(number, amounts)) for index, number in enumerate(numbers)]
        applied = self.run(self.in_raw_transaction(lambda uow: self.invoices.apply_batch(uow, items)))
        assert applied is not None and len(applied) == len(items)

    @rule(number=invoices)
    def release(self, number: int) -> None:
        invoice_id = f"in_{self.customer}_{number}"
        self.run(self.in_transaction(lambda uow: self.invoices.release(uow, invoice_id, self.customer)))

    @rule(number=invoices)
    def reinstate(self, number: int) -> None:
        invoice_id = f"in_{self.customer}_{number}"
        now = self.clock.now()
        self.run(
            self.in_transaction(lambda uow: self.invoices.reinstate(uow, invoice_id, self.customer, now))
        )

    @rule(data=st.data())
    def expire_grant(self, data: st.DataObject) -> None:
        if self.grant_ids:
            grant_id = data.draw(st.sampled_from(self.grant_ids))
            self.run(self.in_transaction(lambda uow: self.grants.expire(uow, grant_id)))

    @rule(data=st.data())
    def void_grant(self, data: st.DataObject) -> None:
        if self.grant_ids:
            grant_id = data.draw(st.sampled_from(self.grant_ids))
            self.run(self.in_transaction(lambda uow: self.grants.void(uow, grant_id)))

    @rule(hours=st.integers(min_value=1, max_value=100))
    def advance_time(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule()
    def sweep_expiries(self) -> None:
        now = self.clock.now()
        self.run(self.in_transaction(lambda uow: self.invoices.expire_due(uow, now, [self.customer], [])))

    @invariant()
    def c23_holds_and_nothing_is_negative(self) -> None:
        async def check() -> None:
            async with self.database.engine.connect() as db:
                uow = CreditRepositories(db)
                for balances in await uow.grants.of_customer(self.customer):
                    postings = await uow.ledger.postings_of_grant(balances.grant.id)
                    assert check_invariant(balances.grant.amount, postings) == ()
                    assert balances.ledger == ledger_balance("USD", postings)
                    assert balances.ledger.minor >= 0
                    assert balances.available(self.clock.now()).minor >= 0
                    assert balances.held.minor >= 0

        self.loop.run_until_complete(check())


def test_c23_invariant_holds_over_random_sequences(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        CreditsLedgerMachine.loop = loop
        CreditsLedgerMachine.database = loop.run_until_complete(_open(database_url))
        run_state_machine_as_test(
            CreditsLedgerMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        loop.run_until_complete(CreditsLedgerMachine.database.dispose())
        loop.close()


async def _open(database_url: str) -> Database:
    database = Database(database_url, pool_size=2, unit_of_work=CreditsUnit)
    database.outboxes = partial(Outbox, EVENT_TABLES, EVENT_DATA, lambda: START)  # as the server's
    return database
