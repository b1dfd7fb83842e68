"""Property: the store's SQL answers every credits rule it restates as the domain does.

Four rules live both in ``credits_service.domain`` and in the store's SQL: a grant's state
(C-2: ``grant_state`` and the status filter of ListCreditGrants), the unused-grant count
(C-4: ``is_unused`` and ``count_unused``), the available balance (C-20, C-21:
``GrantBalances.available`` and the summed balance summary) and the due expiry (C-3:
``due_expiry`` and the sweep's selection). Random customers' grants, ledgers and holds
are written to a real PostgreSQL, one transaction per example, and read at random
moments, many of them on a grant's effective or expiry time or a microsecond either side;
every answer of the store must equal the domain's over the same rows.

The ledgers are those the use cases can leave: applications never overdraw, no more is
reinstated than was applied, a void debits the untouched amount, a recorded expiry
debits what was left, and a reinstatement judged at a moment before the expiry may come
after it was recorded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credits_service.domain.balances import CurrencyBalance, GrantBalances
from credits_service.domain.grants import (
    Applicability,
    CreditGrant,
    GrantState,
    due_expiry,
    grant_state,
    is_unused,
)
from credits_service.domain.ledger import Posting, TransactionKind, ledger_balance
from credits_service.store.holds import AllocationEntry, StoredAllocation
from credits_service.store.schema import credit_grants
from credits_service.store.unit import CreditRepositories, reading
from drawdown.db.engine import Database
from drawdown.money import Money

BASE = datetime(2030, 1, 1, tzinfo=UTC)
PRICES = ("price_a", "price_b", "price_c", "price_d")
CURRENCIES = ("EUR", "JPY", "USD")
APPLIED, REINSTATED = TransactionKind.CREDITS_APPLIED, TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED


def at(hour: int, microseconds: int = 0) -> datetime:
    return BASE + timedelta(hours=hour, microseconds=microseconds)


@dataclass(frozen=True)
class GrantSpec:
    """A grant as the use cases could have left it: its ledger's moves and how it ended."""

    customer: int
    currency: str
    amount: int
    price_ids: tuple[str, ...]  # () is every metered price
    effective_hour: int
    expiry_hour: int | None
    draws: tuple[tuple[TransactionKind, int], ...]  # applications and reinstatements, in order
    ending: str  # "live", "voided" or "expiry recorded"
    late_reinstatement: bool  # reinstated after the expiry was recorded, judged before expiry


@st.composite
def grant_specs(draw: st.DrawFn) -> GrantSpec:
    effective_hour = draw(st.integers(min_value=0, max_value=8))
    ending = draw(st.sampled_from(["live", "voided", "expiry recorded"]))
    if ending == "expiry recorded":  # ExpireCreditGrant may end a pending grant, before its start
        expiry_hour: int | None = draw(st.integers(min_value=0, max_value=10))
    else:
        expiry_hour = draw(st.none() | st.integers(min_value=effective_hour + 1, max_value=10))
    moves = st.tuples(st.sampled_from([APPLIED, REINSTATED]), st.integers(min_value=1, max_value=900))
    return GrantSpec(
        customer=draw(st.integers(min_value=0, max_value=1)),
        currency=draw(st.sampled_from(CURRENCIES)),
        amount=draw(st.integers(min_value=1, max_value=900)),
        price_ids=draw(
            st.just(()) | st.lists(st.sampled_from(PRICES), min_size=1, max_size=3, unique=True).map(tuple)
        ),
        effective_hour=effective_hour,
        expiry_hour=expiry_hour,
        draws=() if ending == "voided" else tuple(draw(st.lists(moves, max_size=4))),
        ending=ending,
        late_reinstatement=ending == "expiry recorded" and draw(st.booleans()),
    )


def ledger_of(grant_id: str, spec: GrantSpec) -> list[Posting]:
    """The grant's postings: granted, the draws as far as the balance allows, the ending."""

    def posting(kind: TransactionKind, amount: int) -> Posting:
        return Posting(grant_id=grant_id, kind=kind, amount=Money(spec.currency, amount), effective_at=BASE)

    postings = [posting(TransactionKind.CREDITS_GRANTED, spec.amount)]
    balance, outstanding = spec.amount, 0  # outstanding: applied and not reinstated yet
    for kind, wanted in spec.draws:
        amount = min(wanted, balance if kind is APPLIED else outstanding)
        if amount:
            postings.append(posting(kind, amount))
            balance += kind.sign * amount
            outstanding -= kind.sign * amount
    if spec.ending == "voided":
        postings.append(posting(TransactionKind.CREDITS_VOIDED, spec.amount))
    if spec.ending == "expiry recorded":
        if balance:
            postings.append(posting(TransactionKind.CREDITS_EXPIRED, balance))
        if spec.late_reinstatement and outstanding:
            postings.append(posting(REINSTATED, outstanding))
    return postings


@dataclass(frozen=True)
class Scenario:
    grants: list[GrantSpec]
    holds: list[tuple[int, int, int]]  # (grant index, invoice number, amount), stale ones included
    clock_hour: int | None  # the second customer's test clock, if it lives on one
    moments: list[datetime]  # the as_of moments the rules are judged at
    price_ids: list[str]  # a summary's price scope
    pick: int  # which grant a summary selects (or none of the customer's)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    grants = draw(st.lists(grant_specs(), max_size=7))
    # Most moments fall on a grant's effective or expiry time (or a microsecond off).
    edges = [hour for g in grants for hour in (g.effective_hour, g.expiry_hour) if hour is not None]
    hours = st.integers(min_value=0, max_value=11)
    if edges:
        hours = st.sampled_from(edges) | st.sampled_from(edges) | hours
    holds = st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(1, 600))
    return Scenario(
        grants=grants,
        holds=draw(st.lists(holds, max_size=6)),
        clock_hour=draw(st.none() | st.integers(min_value=0, max_value=11)),
        moments=draw(st.lists(st.builds(at, hours, st.sampled_from([-1, 0, 0, 1])), min_size=1, max_size=3)),
        price_ids=draw(st.lists(st.sampled_from(PRICES), min_size=1, max_size=2, unique=True)),
        pick=draw(st.integers(min_value=0, max_value=7)),
    )


@dataclass(frozen=True)
class Example:
    """A scenario as written: its customers, and its grants as the domain sees them."""

    customers: tuple[str, str]
    grants: list[GrantBalances]  # by id
    expiry_recorded: set[str]  # grant ids
    clock_time: datetime | None  # the second customer's

    def of(self, customer: str) -> list[GrantBalances]:
        return [g for g in self.grants if g.grant.customer_id == customer]


async def write(database: Database, scenario: Scenario) -> Example:
    """The scenario's rows, in one transaction; returns what the domain makes of them."""
    prefix = uuid.uuid4().hex[:12]
    customers = (f"cus_{prefix}_0", f"cus_{prefix}_1")
    specs = scenario.grants
    grants: list[CreditGrant] = []
    for index, spec in enumerate(specs):
        applicability = (
            Applicability.only_prices(*spec.price_ids)
            if spec.price_ids
            else Applicability.every_metered_price()
        )
        grants.append(
            CreditGrant(
                id=f"cg_{prefix}_{index}",
                customer_id=customers[spec.customer],
                amount=Money(spec.currency, spec.amount),
                name="",
                applicability=applicability,
                effective_at=at(spec.effective_hour),
                expires_at=None if spec.expiry_hour is None else at(spec.expiry_hour),
                voided_at=BASE if spec.ending == "voided" else None,
                created_at=BASE,
                updated_at=BASE,
            )
        )
    ledgers = [ledger_of(grant.id, spec) for grant, spec in zip(grants, specs, strict=True)]
    # An invoice's hold is of one customer, in one currency.
    holds: dict[tuple[str, str], list[AllocationEntry]] = {}
    for position, (index, number, amount) in enumerate(scenario.holds):
        if grants:
            grant = grants[index % len(grants)]
            entry = AllocationEntry(f"il_{position}", grant.id, Money(grant.amount.currency, amount))
            invoice_id = f"in_{grant.customer_id}_{number}_{grant.amount.currency}"
            holds.setdefault((grant.customer_id, invoice_id), []).append(entry)
    clock_time = None if scenario.clock_hour is None else at(scenario.clock_hour)

    async with database.engine.begin() as db:
        uow = CreditRepositories(db)
        await uow.customers.lock_many(customers, BASE)
        if grants:
            await db.execute(
                sa.insert(credit_grants),
                [
                    {
                        "id": grant.id,
                        "customer_id": grant.customer_id,
                        "currency": grant.amount.currency,
                        "amount_minor": grant.amount.minor,
                        "name": grant.name,
                        "category": str(grant.category),
                        "priority": grant.priority,
                        "all_metered_prices": grant.applicability.all_metered_prices,
                        "price_ids": list(grant.applicability.price_ids),
                        "effective_at": grant.effective_at,
                        "expires_at": grant.expires_at,
                        "metadata": {},
                        "voided_at": grant.voided_at,
                        "expiry_posted_at": grant.expires_at if spec.ending == "expiry recorded" else None,
                        "balance_minor": 0,
                        "create_time": BASE,
                        "update_time": BASE,
                    }
                    for grant, spec in zip(grants, specs, strict=True)
                ],
            )
        postings = [
            (grant.customer_id, p) for grant, ledger in zip(grants, ledgers, strict=True) for p in ledger
        ]
        await uow.ledger.post_many(postings, BASE)
        await uow.holds.replace_many(
            [
                (customer, StoredAllocation(invoice_id, entries[0].amount.currency, tuple(entries)))
                for (customer, invoice_id), entries in holds.items()
            ],
            BASE,
        )
        if clock_time is not None:
            await uow.customers.set_test_clock(f"clk_{prefix}", clock_time, BASE)
            await uow.customers.attach_to_test_clock(f"clk_{prefix}", [customers[1]], BASE)

    held: dict[str, int] = {}
    for entries in holds.values():
        for entry in entries:
            held[entry.grant_id] = held.get(entry.grant_id, 0) + entry.amount.minor
    balances = [
        GrantBalances(
            grant,
            ledger_balance(grant.amount.currency, ledger),
            Money(grant.amount.currency, held.get(grant.id, 0)),
        )
        for grant, ledger in zip(grants, ledgers, strict=True)
    ]
    recorded = {
        grant.id for grant, spec in zip(grants, specs, strict=True) if spec.ending == "expiry recorded"
    }
    return Example(customers, balances, recorded, clock_time)


def summary(grants: Sequence[GrantBalances], as_of: datetime) -> list[CurrencyBalance]:
    """C-21 from the domain: per currency (by code), the grants' available and ledger sums."""
    totals: dict[str, tuple[int, int]] = {}
    for g in grants:
        available, ledger = totals.get(g.grant.amount.currency, (0, 0))
        totals[g.grant.amount.currency] = (available + g.available(as_of).minor, ledger + g.ledger.minor)
    return [
        CurrencyBalance(Money(currency, available), Money(currency, ledger))
        for currency, (available, ledger) in sorted(totals.items())
    ]


def debits(grants: Sequence[GrantBalances], as_of: datetime) -> list[Posting]:
    return [debit for g in grants if (debit := due_expiry(g.grant, g.ledger, as_of)) is not None]


async def check(database: Database, example: Example, scenario: Scenario) -> None:
    price_ids = scenario.price_ids
    ids = [g.grant.id for g in example.grants] + ["cg_missing"]
    picked = ids[scenario.pick % len(ids)]
    async with reading(database) as uow:
        for as_of in scenario.moments:
            with_due_expiries = []
            for customer in example.customers:
                grants = example.of(customer)
                listed = await uow.grants.page(customer, None, as_of, None, 100)
                assert listed == sorted(grants, key=lambda g: g.grant.id, reverse=True)

                # C-2: the status filter is grant_state.
                for status in GrantState:
                    found = await uow.grants.page(customer, status, as_of, None, 100)
                    expected = [g for g in grants if grant_state(g.grant, g.ledger, as_of) is status]
                    assert {g.grant.id for g in found} == {g.grant.id for g in expected}, (status, as_of)

                # C-4: the count is is_unused's.
                unused = sum(is_unused(g.grant, g.ledger, as_of) for g in grants)
                assert await uow.grants.count_unused(customer, as_of) == unused, as_of

                # C-20, C-21: every selection sums GrantBalances.available.
                assert await uow.balances.summary(customer, as_of, BASE) == summary(grants, as_of)
                assert await uow.balances.summary(customer, as_of, BASE, grant_id=picked) == summary(
                    [g for g in grants if g.grant.id == picked], as_of
                )
                in_scope = [g for g in grants if any(g.grant.applicability.covers(p) for p in price_ids)]
                assert await uow.balances.summary(customer, as_of, BASE, price_ids=price_ids) == summary(
                    in_scope, as_of
                )
                # Without as_of: the customer's test clock's time, else now (I-18).
                customer_now = (example.clock_time if customer == example.customers[1] else None) or as_of
                assert await uow.balances.summary(customer, None, as_of) == summary(grants, customer_now)

                # C-3: the sweep takes the grants due_expiry sees expired whose expiry is not
                # recorded, and posts due_expiry's debits, no more and no fewer.
                unrecorded = [g for g in grants if g.grant.id not in example.expiry_recorded]
                due = await uow.grants.due(customer, as_of)
                assert [g.grant.id for g in due] == [
                    g.grant.id
                    for g in unrecorded
                    if grant_state(g.grant, g.ledger, as_of) is GrantState.EXPIRED
                ], as_of
                assert debits(due, as_of) == debits(unrecorded, as_of), as_of
                if due:
                    with_due_expiries.append(customer)
            swept = await uow.grants.customers_with_due_expiries(as_of, example.customers, [])
            assert swept == with_due_expiries, as_of


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=2)
    yield db
    await db.dispose()


async def test_the_store_sql_answers_each_rule_as_the_domain_does(database: Database) -> None:
    loop = asyncio.get_running_loop()

    async def run(scenario: Scenario) -> None:
        await check(database, await write(database, scenario), scenario)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scenarios())
    def holds_for(scenario: Scenario) -> None:
        asyncio.run_coroutine_threadsafe(run(scenario), loop).result()

    await asyncio.to_thread(holds_for)
