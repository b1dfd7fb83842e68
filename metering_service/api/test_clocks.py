"""TestClockTimeService servicer: convert, call the use case, convert (I-18).

Strings (ids at most 255 characters, no NUL) are checked by the server's request guard
from the contract before a handler runs.
"""

from __future__ import annotations

import grpc

from drawdown.errors import InvalidArgument
from drawdown.metering.v1 import test_clock_time_service_pb2 as pb
from drawdown.metering.v1 import test_clock_time_service_pb2_grpc as pb_grpc
from drawdown.rpc.convert import optional_timestamp, timestamp_to_proto
from drawdown.rpc.idempotent import Mutations
from drawdown.test_clocks import MAX_CUSTOMERS_PER_CALL
from metering_service.service.test_clocks import TestClockUseCases
from metering_service.store.unit import MeteringUnit


class TestClockTimeServicer(pb_grpc.TestClockTimeServiceServicer):
    __test__ = False  # a servicer, not a test class

    def __init__(self, clocks: TestClockUseCases, mutations: Mutations) -> None:
        self._clocks = clocks
        self._mutations = mutations

    async def SetTestClockTime(
        self, request: pb.SetTestClockTimeRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetTestClockTimeResponse:
        clock_id = _required(request.test_clock_id, "test_clock_id")
        frozen_time = optional_timestamp(request, "frozen_time")
        if frozen_time is None:
            raise InvalidArgument.for_field("frozen_time", "is required")
        if len(request.customer_ids) > MAX_CUSTOMERS_PER_CALL:
            raise InvalidArgument.for_field(
                "customer_ids", f"holds {len(request.customer_ids)}; at most {MAX_CUSTOMERS_PER_CALL:,}"
            )
        customer_ids = [
            _required(customer_id, f"customer_ids[{index}]")
            for index, customer_id in enumerate(request.customer_ids)
        ]

        async def work(uow: MeteringUnit) -> pb.SetTestClockTimeResponse:
            stored = await self._clocks.set_time(uow, clock_id, frozen_time, customer_ids)
            return pb.SetTestClockTimeResponse(frozen_time=timestamp_to_proto(stored))

        return await self._mutations.run("SetTestClockTime", request, pb.SetTestClockTimeResponse, work)

    async def DeleteTestClockTime(
        self, request: pb.DeleteTestClockTimeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTestClockTimeResponse:
        clock_id = _required(request.test_clock_id, "test_clock_id")

        async def work(uow: MeteringUnit) -> pb.DeleteTestClockTimeResponse:
            await self._clocks.delete(uow, clock_id)
            return pb.DeleteTestClockTimeResponse()

        return await self._mutations.run("DeleteTestClockTime", request, pb.DeleteTestClockTimeResponse, work)


def _required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument.for_field(field, "is required")
    return value
