"""Products and prices in the invoicing schema (I-2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.errors import NotFound
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import Interval
from invoicing_service.domain.prices import (
    BillingScheme,
    Price,
    Rounding,
    Tier,
    TiersMode,
    TransformQuantity,
    UsageType,
)
from invoicing_service.store.records import PriceRecord, ProductRecord
from invoicing_service.store.schema import prices, products


def _product(row: Any) -> ProductRecord:
    return ProductRecord(row.id, row.name, row.description, row.active, dict(row.metadata), row.create_time)


def _tiers_to_json(tiers: Iterable[Tier]) -> list[dict[str, Any]]:
    return [
        {
            "up_to": tier.up_to,
            "unit": None if tier.unit_amount_decimal is None else str(tier.unit_amount_decimal),
            "flat": None if tier.flat_amount_decimal is None else str(tier.flat_amount_decimal),
        }
        for tier in tiers
    ]


def _tiers_from_json(tiers: Iterable[Mapping[str, Any]]) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            up_to=tier["up_to"],
            unit_amount_decimal=None if tier["unit"] is None else Decimal(tier["unit"]),
            flat_amount_decimal=None if tier["flat"] is None else Decimal(tier["flat"]),
        )
        for tier in tiers
    )


def price_from_row(row: Any) -> Price:
    transform = (
        None
        if row.transform_divide_by is None
        else TransformQuantity(row.transform_divide_by, Rounding(row.transform_round))
    )
    return Price(
        currency=row.currency,
        usage_type=UsageType(row.usage_type),
        interval=Interval(row.interval),
        interval_count=row.interval_count,
        meter_id=row.meter_id,
        billing_scheme=BillingScheme(row.billing_scheme),
        unit_amount_decimal=None
        if row.unit_amount_decimal is None
        else Decimal(row.unit_amount_decimal).normalize(),
        tiers_mode=None if row.tiers_mode is None else TiersMode(row.tiers_mode),
        tiers=_tiers_from_json(row.tiers),
        transform_quantity=transform,
    )


def _price(row: Any) -> PriceRecord:
    return PriceRecord(
        id=row.id,
        product_id=row.product_id,
        active=row.active,
        nickname=row.nickname,
        metadata=dict(row.metadata),
        price=price_from_row(row),
        create_time=row.create_time,
        update_time=row.update_time,
    )


class CatalogStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert_product(self, product: ProductRecord) -> None:
        await self._session.execute(
            sa.insert(products).values(
                id=product.id,
                name=product.name,
                description=product.description,
                active=product.active,
                metadata=dict(product.metadata),
                create_time=product.create_time,
            )
        )

    async def get_product(self, product_id: str) -> ProductRecord:
        row = (await self._session.execute(sa.select(products).where(products.c.id == product_id))).first()
        if row is None:
            raise NotFound(
                f"product {product_id} does not exist",
                reason=reasons.PRODUCT_NOT_FOUND,
                metadata={"id": product_id},
            )
        return _product(row)

    async def product_names_of_prices(self, price_ids: Iterable[str]) -> dict[str, str]:
        """The product name of each price, for invoice line descriptions."""
        rows = await self._session.execute(
            sa.select(prices.c.id, products.c.name)
            .join(products, products.c.id == prices.c.product_id)
            .where(prices.c.id.in_(list(price_ids)))
        )
        return {row.id: row.name for row in rows}

    async def list_products(
        self, *, active: bool | None, after: Sequence[Any] | None, limit: int
    ) -> list[ProductRecord]:
        query = sa.select(products)
        if active is not None:
            query = query.where(products.c.active == active)
        if after is not None:
            query = query.where(products.c.id < after[0])
        rows = await self._session.execute(query.order_by(products.c.id.desc()).limit(limit))
        return [_product(row) for row in rows]

    async def insert_price(self, record: PriceRecord) -> None:
        price = record.price
        await self._session.execute(
            sa.insert(prices).values(
                id=record.id,
                product_id=record.product_id,
                currency=price.currency,
                active=record.active,
                nickname=record.nickname,
                metadata=dict(record.metadata),
                usage_type=price.usage_type.value,
                interval=price.interval.value,
                interval_count=price.interval_count,
                meter_id=price.meter_id,
                billing_scheme=price.billing_scheme.value,
                unit_amount_decimal=price.unit_amount_decimal,
                tiers_mode=None if price.tiers_mode is None else price.tiers_mode.value,
                tiers=_tiers_to_json(price.tiers),
                transform_divide_by=None
                if price.transform_quantity is None
                else price.transform_quantity.divide_by,
                transform_round=None
                if price.transform_quantity is None
                else price.transform_quantity.round.value,
                create_time=record.create_time,
                update_time=record.update_time,
            )
        )

    async def get_price(self, price_id: str, field: str | None = None) -> PriceRecord:
        row = (await self._session.execute(sa.select(prices).where(prices.c.id == price_id))).first()
        if row is None:
            metadata = {"id": price_id, **({"field": field} if field else {})}
            raise NotFound(
                f"price {price_id} does not exist", reason=reasons.PRICE_NOT_FOUND, metadata=metadata
            )
        return _price(row)

    async def list_prices(
        self,
        *,
        product_id: str,
        active: bool | None,
        usage_type: str | None,
        meter_id: str,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[PriceRecord]:
        query = sa.select(prices)
        if product_id:
            query = query.where(prices.c.product_id == product_id)
        if active is not None:
            query = query.where(prices.c.active == active)
        if usage_type:
            query = query.where(prices.c.usage_type == usage_type)
        if meter_id:
            query = query.where(prices.c.meter_id == meter_id)
        if after is not None:
            query = query.where(prices.c.id < after[0])
        rows = await self._session.execute(query.order_by(prices.c.id.desc()).limit(limit))
        return [_price(row) for row in rows]

    async def update_price(self, price_id: str, values: Mapping[str, Any], now: datetime) -> PriceRecord:
        row = (
            await self._session.execute(
                sa.update(prices)
                .where(prices.c.id == price_id)
                .values(update_time=now, **values)
                .returning(prices)
            )
        ).one()
        return _price(row)
