"""Customers and test clocks in the invoicing schema (I-1, I-16)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.errors import NotFound
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.balance_watches import AutoTopUp, BalanceAlert, Collection
from invoicing_service.domain.test_clocks import TestClockStatus
from invoicing_service.store.records import CustomerRecord, TestClockRecord
from invoicing_service.store.schema import customers, invoices, subscriptions, test_clocks


def _clock(row: Any) -> TestClockRecord:
    return TestClockRecord(
        row.id, row.name, row.frozen_time, TestClockStatus(row.status), row.create_time, row.update_time
    )


def _customer(row: Any) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        name=row.name,
        email=row.email,
        metadata=dict(row.metadata),
        test_clock_id=row.test_clock_id,
        grace_period=timedelta(seconds=row.grace_period_seconds),
        create_time=row.create_time,
        update_time=row.update_time,
        overdraft_allowances=dict(row.overdraft_allowances),
        auto_top_ups=tuple(_top_up(value) for value in row.auto_top_ups),
        balance_alerts=tuple(_alert(value) for value in row.balance_alerts),
    )


def _top_up(value: Mapping[str, Any]) -> AutoTopUp:
    currency = value["currency"]

    def money(key: str) -> Money | None:
        return None if value[key] is None else Money(currency, int(value[key]))

    threshold, cap = money("threshold"), money("monthly_cap")
    assert threshold is not None and cap is not None
    return AutoTopUp(threshold, money("amount"), money("recharge_to"), cap, Collection(value["collection"]))


def _top_up_json(top_up: AutoTopUp) -> dict[str, Any]:
    return {
        "currency": top_up.currency,
        "threshold": top_up.threshold.minor,
        "amount": None if top_up.amount is None else top_up.amount.minor,
        "recharge_to": None if top_up.recharge_to is None else top_up.recharge_to.minor,
        "monthly_cap": top_up.monthly_cap.minor,
        "collection": top_up.collection.value,
    }


def _alert(value: Mapping[str, Any]) -> BalanceAlert:
    currency = value["currency"]
    return BalanceAlert(
        currency,
        None if value["amount"] is None else Money(currency, int(value["amount"])),
        None if value["percent_of_granted"] is None else Decimal(value["percent_of_granted"]),
    )


def _alert_json(alert: BalanceAlert) -> dict[str, Any]:
    return {
        "currency": alert.currency,
        "amount": None if alert.amount is None else alert.amount.minor,
        "percent_of_granted": None if alert.percent_of_granted is None else str(alert.percent_of_granted),
    }


class TestClockStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert(self, clock: TestClockRecord) -> None:
        await self._session.execute(
            sa.insert(test_clocks).values(
                id=clock.id,
                name=clock.name,
                frozen_time=clock.frozen_time,
                status=clock.status,
                deleted=False,
                create_time=clock.create_time,
                update_time=clock.update_time,
            )
        )

    async def get(
        self, clock_id: str, *, for_update: bool = False, for_share: bool = False
    ) -> TestClockRecord:
        """The clock; ``for_update`` locks it, ``for_share`` keeps it from changing (an
        advance's first step waits) while other readers may share it."""
        query = sa.select(test_clocks).where(test_clocks.c.id == clock_id, ~test_clocks.c.deleted)
        if for_update:
            query = query.with_for_update()
        elif for_share:
            query = query.with_for_update(read=True)
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"test clock {clock_id} does not exist",
                reason=reasons.TEST_CLOCK_NOT_FOUND,
                metadata={"id": clock_id},
            )
        return _clock(row)

    async def list(self, after: Sequence[Any] | None, limit: int) -> list[TestClockRecord]:
        query = sa.select(test_clocks).where(~test_clocks.c.deleted)
        if after is not None:
            query = query.where(test_clocks.c.id < after[0])
        rows = await self._session.execute(query.order_by(test_clocks.c.id.desc()).limit(limit))
        return [_clock(row) for row in rows]

    async def update(self, clock_id: str, *, now: datetime, **values: Any) -> TestClockRecord:
        row = (
            await self._session.execute(
                sa.update(test_clocks)
                .where(test_clocks.c.id == clock_id)
                .values(update_time=now, **values)
                .returning(test_clocks)
            )
        ).one()
        return _clock(row)

    async def delete(self, clock_id: str, now: datetime) -> None:
        """The clock and everything on it disappear from reads and from billing."""
        await self._session.execute(
            sa.update(test_clocks).where(test_clocks.c.id == clock_id).values(deleted=True, update_time=now)
        )
        for table in (customers, subscriptions, invoices):
            await self._session.execute(
                sa.update(table).where(table.c.test_clock_id == clock_id).values(deleted=True)
            )

    async def customer_ids(self, clock_id: str) -> list[str]:
        rows = await self._session.execute(
            sa.select(customers.c.id).where(customers.c.test_clock_id == clock_id).order_by(customers.c.id)
        )
        return list(rows.scalars())

    async def all_clock_customer_ids(self) -> list[str]:
        rows = await self._session.execute(
            sa.select(customers.c.id).where(customers.c.test_clock_id.is_not(None)).order_by(customers.c.id)
        )
        return list(rows.scalars())


class CustomerStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert(self, customer: CustomerRecord) -> None:
        await self._session.execute(
            sa.insert(customers).values(
                id=customer.id,
                name=customer.name,
                email=customer.email,
                metadata=dict(customer.metadata),
                test_clock_id=customer.test_clock_id,
                grace_period_seconds=int(customer.grace_period.total_seconds()),
                overdraft_allowances=dict(customer.overdraft_allowances),
                auto_top_ups=[_top_up_json(t) for t in customer.auto_top_ups],
                balance_alerts=[_alert_json(a) for a in customer.balance_alerts],
                deleted=False,
                create_time=customer.create_time,
                update_time=customer.update_time,
            )
        )

    async def get(self, customer_id: str, *, for_update: bool = False) -> CustomerRecord:
        query = sa.select(customers).where(customers.c.id == customer_id, ~customers.c.deleted)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            raise NotFound(
                f"customer {customer_id} does not exist",
                reason=reasons.CUSTOMER_NOT_FOUND,
                metadata={"id": customer_id},
            )
        return _customer(row)

    async def watched(self, test_clock_id: str | None) -> list[str]:
        """The customers with a balance watch (R-6, R-7): those on the wall clock or on
        test clocks not being advanced (None), or those on one test clock."""
        query = sa.select(customers.c.id).where(
            ~customers.c.deleted,
            (customers.c.auto_top_ups != sa.text("'[]'::jsonb"))
            | (customers.c.balance_alerts != sa.text("'[]'::jsonb")),
        )
        if test_clock_id is not None:
            query = query.where(customers.c.test_clock_id == test_clock_id)
        else:
            advancing = sa.select(test_clocks.c.id).where(test_clocks.c.status == TestClockStatus.ADVANCING)
            query = query.where(
                customers.c.test_clock_id.is_(None) | customers.c.test_clock_id.not_in(advancing)
            )
        return list((await self._session.execute(query.order_by(customers.c.id))).scalars())

    async def grace_periods(self, customer_ids: Iterable[str]) -> dict[str, timedelta]:
        """Each customer's grace period before its drafts finalize (I-11)."""
        rows = await self._session.execute(
            sa.select(customers.c.id, customers.c.grace_period_seconds).where(
                customers.c.id.in_(list(customer_ids))
            )
        )
        return {row.id: timedelta(seconds=row.grace_period_seconds) for row in rows}

    async def list(
        self, *, email: str, test_clock_id: str, after: Sequence[Any] | None, limit: int
    ) -> list[CustomerRecord]:
        query = sa.select(customers).where(~customers.c.deleted)
        if email:
            query = query.where(sa.func.lower(customers.c.email) == email.lower())
        if test_clock_id:
            query = query.where(customers.c.test_clock_id == test_clock_id)
        if after is not None:
            query = query.where(customers.c.id < after[0])
        rows = await self._session.execute(query.order_by(customers.c.id.desc()).limit(limit))
        return [_customer(row) for row in rows]

    async def update(self, customer_id: str, values: Mapping[str, Any], now: datetime) -> CustomerRecord:
        columns = dict(values)
        if "grace_period" in columns:
            columns["grace_period_seconds"] = int(columns.pop("grace_period").total_seconds())
        if "overdraft_allowances" in columns:
            columns["overdraft_allowances"] = dict(columns["overdraft_allowances"])
        if "auto_top_ups" in columns:
            columns["auto_top_ups"] = [_top_up_json(t) for t in columns["auto_top_ups"]]
        if "balance_alerts" in columns:
            columns["balance_alerts"] = [_alert_json(a) for a in columns["balance_alerts"]]
        row = (
            await self._session.execute(
                sa.update(customers)
                .where(customers.c.id == customer_id)
                .values(update_time=now, **columns)
                .returning(customers)
            )
        ).one()
        return _customer(row)
