"""TestClockTimeService: convert, call the use case, convert (I-18)."""

from __future__ import annotations

from credits_service.api import convert
from credits_service.service.test_clocks import TestClockUseCases
from drawdown.credits.v1 import test_clock_time_service_pb2 as pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.rpc.idempotent import Mutations
from drawdown.test_clocks import MAX_CUSTOMERS_PER_CALL


class TestClockTimeServicer(test_clock_time_service_pb2_grpc.TestClockTimeServiceServicer):
    __test__ = False  # a servicer, not a test class

    def __init__(self, clocks: TestClockUseCases, mutations: Mutations) -> None:
        self._clocks = clocks
        self._mutations = mutations

    async def SetTestClockTime(self, request, context):
        convert.check_request_id(request)
        clock_id = convert.required(request.test_clock_id, "test_clock_id")
        frozen_time = convert.required_timestamp(request, "frozen_time")
        customer_ids = convert.customer_ids(request.customer_ids, "customer_ids", MAX_CUSTOMERS_PER_CALL)

        async def work(uow):
            stored = await self._clocks.set_time(uow, clock_id, frozen_time, customer_ids)
            return pb.SetTestClockTimeResponse(frozen_time=timestamp_to_proto(stored))

        return await self._mutations.run("SetTestClockTime", request, pb.SetTestClockTimeResponse, work)

    async def DeleteTestClockTime(self, request, context):
        convert.check_request_id(request)
        clock_id = convert.required(request.test_clock_id, "test_clock_id")

        async def work(uow):
            await self._clocks.delete(uow, clock_id)
            return pb.DeleteTestClockTimeResponse()

        return await self._mutations.run("DeleteTestClockTime", request, pb.DeleteTestClockTimeResponse, work)
