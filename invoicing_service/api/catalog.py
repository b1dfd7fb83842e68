"""CatalogService servicer: convert, call the use case, convert."""

from __future__ import annotations

from drawdown.deadlines import Deadline
from drawdown.invoicing.v1 import catalog_service_pb2 as pb
from drawdown.invoicing.v1 import catalog_service_pb2_grpc
from drawdown.rpc.idempotent import Mutations
from invoicing_service.api import convert
from invoicing_service.api.pages import page
from invoicing_service.service.catalog import CatalogUseCases, NewPrice


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: CatalogUseCases, mutations: Mutations) -> None:
        self._catalog = catalog
        self._mutations = mutations

    async def CreateProduct(self, request, context):
        product = request.product

        async def work(uow):
            record = await self._catalog.create_product(
                uow, product.name, product.description, dict(product.metadata)
            )
            return pb.CreateProductResponse(product=convert.product_to_proto(record))

        return await self._mutations.run("CreateProduct", request, pb.CreateProductResponse, work)

    async def GetProduct(self, request, context):
        return pb.GetProductResponse(
            product=convert.product_to_proto(await self._catalog.get_product(request.id))
        )

    async def ListProducts(self, request, context):
        active = request.active if request.HasField("active") else None
        rows, token = await page(
            request,
            [active],
            lambda after, limit: self._catalog.list_products(active=active, after=after, limit=limit),
        )
        return pb.ListProductsResponse(
            products=[convert.product_to_proto(r) for r in rows], next_page_token=token
        )

    async def CreatePrice(self, request, context):
        new = NewPrice(
            product_id=request.price.product_id,
            nickname=request.price.nickname,
            metadata=dict(request.price.metadata),
            price=convert.price_from_proto(request.price),
        )

        async def work(uow):
            with convert.price_fields_named_by_proto():
                record = await self._catalog.create_price(uow, new, Deadline.of(context))
            return pb.CreatePriceResponse(price=convert.price_to_proto(record))

        return await self._mutations.run("CreatePrice", request, pb.CreatePriceResponse, work)

    async def GetPrice(self, request, context):
        return pb.GetPriceResponse(price=convert.price_to_proto(await self._catalog.get_price(request.id)))

    async def ListPrices(self, request, context):
        active = request.active if request.HasField("active") else None
        usage_type = convert.USAGE_TYPES.parse(request.type, "type")
        rows, token = await page(
            request,
            [request.product_id, active, usage_type, request.meter_id],
            lambda after, limit: self._catalog.list_prices(
                product_id=request.product_id,
                active=active,
                usage_type=usage_type,
                meter_id=request.meter_id,
                after=after,
                limit=limit,
            ),
        )
        return pb.ListPricesResponse(prices=[convert.price_to_proto(r) for r in rows], next_page_token=token)

    async def UpdatePrice(self, request, context):
        price = request.price

        async def work(uow):
            record = await self._catalog.update_price(
                uow,
                price.id,
                list(request.update_mask.paths),
                price.active,
                price.nickname,
                dict(price.metadata),
            )
            return pb.UpdatePriceResponse(price=convert.price_to_proto(record))

        return await self._mutations.run("UpdatePrice", request, pb.UpdatePriceResponse, work)
