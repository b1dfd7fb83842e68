"""Products and prices (I-2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drawdown import ids
from drawdown.deadlines import Deadline
from drawdown.errors import InvalidArgument
from invoicing_service.domain import reasons
from invoicing_service.domain.customers import validate_metadata, validate_text
from invoicing_service.domain.prices import Price, UsageType, validate_new_price
from invoicing_service.service.billing import Billing
from invoicing_service.store.records import PriceRecord, ProductRecord
from invoicing_service.store.unit import InvoicingUnit

UPDATABLE_PRICE_PATHS = ("active", "nickname", "metadata")


@dataclass(frozen=True)
class NewPrice:
    product_id: str
    nickname: str
    metadata: Mapping[str, str]
    price: Price


class CatalogUseCases:
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def create_product(
        self, uow: InvoicingUnit, name: str, description: str, metadata: Mapping[str, str]
    ) -> ProductRecord:
        validate_text(name, "product.name", 250, required=True)
        validate_text(description, "product.description", 1000)
        record = ProductRecord(
            ids.new_id(ids.PRODUCT),
            name,
            description,
            True,
            validate_metadata(metadata, "product.metadata"),
            self._billing.clock.now(),
        )
        await uow.catalog.insert_product(record)
        return record

    async def get_product(self, product_id: str) -> ProductRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.catalog.get_product(product_id)

    async def list_products(
        self, *, active: bool | None, after: Sequence[Any] | None, limit: int
    ) -> list[ProductRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.catalog.list_products(active=active, after=after, limit=limit)

    async def create_price(self, uow: InvoicingUnit, new: NewPrice, deadline: Deadline) -> PriceRecord:
        """A price, active; a metered price's meter must exist and be active (I-2)."""
        price = validate_new_price(new.price)
        validate_text(new.nickname, "price.nickname", 250)
        metadata = validate_metadata(new.metadata, "price.metadata")
        await uow.catalog.get_product(new.product_id)
        if price.usage_type is UsageType.METERED:
            assert price.meter_id is not None
            await self._billing.downstream.metering.check_meter_active(price.meter_id, deadline)
        now = self._billing.clock.now()
        record = PriceRecord(
            ids.new_id(ids.PRICE), new.product_id, True, new.nickname, metadata, price, now, now
        )
        await uow.catalog.insert_price(record)
        return record

    async def get_price(self, price_id: str) -> PriceRecord:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.catalog.get_price(price_id)

    async def list_prices(self, **filters: Any) -> list[PriceRecord]:
        async with self._billing.database.unit_of_work() as uow:
            return await uow.catalog.list_prices(**filters)

    async def update_price(
        self,
        uow: InvoicingUnit,
        price_id: str,
        paths: Sequence[str],
        active: bool,
        nickname: str,
        metadata: Mapping[str, str],
    ) -> PriceRecord:
        """Only active, nickname and metadata change after creation (I-2)."""
        if not paths:
            raise InvalidArgument.for_field("update_mask", "must name at least one field")
        values: dict[str, Any] = {}
        for path in paths:
            if path == "active":
                values["active"] = active
            elif path == "nickname":
                values["nickname"] = validate_text(nickname, "price.nickname", 250)
            elif path == "metadata":
                values["metadata"] = validate_metadata(metadata, "price.metadata")
            else:
                raise InvalidArgument.for_field(
                    f"price.{path}", "cannot be changed", reason=reasons.IMMUTABLE_FIELD
                )
        await uow.catalog.get_price(price_id)
        return await uow.catalog.update_price(price_id, values, self._billing.clock.now())
