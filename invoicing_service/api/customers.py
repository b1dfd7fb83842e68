"""CustomerService and TestClockService servicers: convert, call the use case, convert."""

from __future__ import annotations

from drawdown.deadlines import Deadline
from drawdown.invoicing.v1 import (
    customer_service_pb2 as pb,
)
from drawdown.invoicing.v1 import (
    customer_service_pb2_grpc,
    test_clock_service_pb2,
    test_clock_service_pb2_grpc,
)
from drawdown.rpc.convert import optional_timestamp, timestamp_from_proto
from drawdown.rpc.idempotent import Mutations
from invoicing_service.api import convert
from invoicing_service.api.pages import page
from invoicing_service.api.sagas import Sagas
from invoicing_service.service.customers import CustomerUseCases, TestClockUseCases
from invoicing_service.service.scheduler import TestClockAdvance
from invoicing_service.service.spending import Spending


class CustomerServicer(customer_service_pb2_grpc.CustomerServiceServicer):
    def __init__(self, customers: CustomerUseCases, spending: Spending, mutations: Mutations) -> None:
        self._customers = customers
        self._spending = spending
        self._mutations = mutations

    async def CreateCustomer(self, request, context):
        new = convert.new_customer_from_proto(request.customer)

        async def work(uow):
            return pb.CreateCustomerResponse(
                customer=convert.customer_to_proto(
                    await self._customers.create(uow, new, Deadline.of(context))
                )
            )

        return await self._mutations.run("CreateCustomer", request, pb.CreateCustomerResponse, work)

    async def GetCustomer(self, request, context):
        return pb.GetCustomerResponse(
            customer=convert.customer_to_proto(await self._customers.get(request.id))
        )

    async def ListCustomers(self, request, context):
        rows, token = await page(
            request,
            [request.email, request.test_clock_id],
            lambda after, limit: self._customers.list(
                email=request.email, test_clock_id=request.test_clock_id, after=after, limit=limit
            ),
        )
        return pb.ListCustomersResponse(
            customers=[convert.customer_to_proto(r) for r in rows], next_page_token=token
        )

    async def UpdateCustomer(self, request, context):
        changes = convert.new_customer_from_proto(request.customer)
        paths = list(request.update_mask.paths)

        async def work(uow):
            record = await self._customers.update(uow, request.customer.id, paths, changes)
            return pb.UpdateCustomerResponse(customer=convert.customer_to_proto(record))

        return await self._mutations.run("UpdateCustomer", request, pb.UpdateCustomerResponse, work)

    async def GetCustomerLiveBalance(self, request, context):
        as_of, balances = await self._spending.live_balance(
            request.customer_id, request.currency, Deadline.of(context)
        )
        return pb.GetCustomerLiveBalanceResponse(
            live_balance=convert.live_balance_to_proto(request.customer_id, as_of, balances)
        )


class TestClockServicer(test_clock_service_pb2_grpc.TestClockServiceServicer):
    def __init__(
        self, clocks: TestClockUseCases, advance: TestClockAdvance, mutations: Mutations, sagas: Sagas
    ) -> None:
        self._clocks = clocks
        self._advance = advance
        self._mutations = mutations
        self._sagas = sagas

    async def CreateTestClock(self, request, context):
        frozen_time = optional_timestamp(request.test_clock, "frozen_time", "test_clock.frozen_time")

        async def work(uow):
            clock = await self._clocks.create(uow, request.test_clock.name, frozen_time)
            return test_clock_service_pb2.CreateTestClockResponse(
                test_clock=convert.test_clock_to_proto(clock)
            )

        return await self._mutations.run(
            "CreateTestClock", request, test_clock_service_pb2.CreateTestClockResponse, work
        )

    async def GetTestClock(self, request, context):
        return test_clock_service_pb2.GetTestClockResponse(
            test_clock=convert.test_clock_to_proto(await self._clocks.get(request.id))
        )

    async def ListTestClocks(self, request, context):
        rows, token = await page(request, [], self._clocks.list)
        return test_clock_service_pb2.ListTestClocksResponse(
            test_clocks=[convert.test_clock_to_proto(r) for r in rows], next_page_token=token
        )

    async def AdvanceTestClock(self, request, context):
        new_time = timestamp_from_proto(request.frozen_time, "frozen_time")
        async with self._sagas.call() as call:
            call.takes_session_locks()  # the clock's lease
            return await call.run(
                "AdvanceTestClock",
                request,
                test_clock_service_pb2.AdvanceTestClockResponse,
                lambda finish: self._advance.advance(
                    call.billing, request.id, new_time, finish, Deadline.of(context)
                ),
                lambda clock: test_clock_service_pb2.AdvanceTestClockResponse(
                    test_clock=convert.test_clock_to_proto(clock)
                ),
            )

    async def DeleteTestClock(self, request, context):
        async def work(uow):
            clock = await self._clocks.delete(uow, request.id, Deadline.of(context))
            return test_clock_service_pb2.DeleteTestClockResponse(
                test_clock=convert.test_clock_to_proto(clock)
            )

        return await self._mutations.run(
            "DeleteTestClock", request, test_clock_service_pb2.DeleteTestClockResponse, work
        )
