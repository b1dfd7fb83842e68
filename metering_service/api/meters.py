"""MeterService servicer: convert, call the use case, convert (M-1..M-4, M-17)."""

from __future__ import annotations

import grpc

from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.rpc.idempotent import Mutations
from metering_service.api import convert
from metering_service.service.meters import MeterUseCases
from metering_service.store.unit import MeteringUnit


class MeterServicer(meter_grpc.MeterServiceServicer):
    def __init__(self, meters: MeterUseCases, mutations: Mutations) -> None:
        self._meters = meters
        self._mutations = mutations

    async def CreateMeter(
        self, request: meter_pb.CreateMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.CreateMeterResponse:
        draft = convert.meter_draft_from_proto(request.meter)

        async def work(uow: MeteringUnit) -> meter_pb.CreateMeterResponse:
            with convert.fields_under("meter."):
                meter = await self._meters.create(uow, draft)
            return meter_pb.CreateMeterResponse(meter=convert.meter_to_proto(meter))

        return await self._mutations.run("CreateMeter", request, meter_pb.CreateMeterResponse, work)

    async def GetMeter(
        self, request: meter_pb.GetMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.GetMeterResponse:
        meter = await self._meters.get(request.meter_id)
        return meter_pb.GetMeterResponse(meter=convert.meter_to_proto(meter))

    async def ListMeters(
        self, request: meter_pb.ListMetersRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.ListMetersResponse:
        meters, token = await self._meters.list(
            convert.status_from_proto(request.status), request.page_size, request.page_token
        )
        return meter_pb.ListMetersResponse(
            meters=[convert.meter_to_proto(m) for m in meters], next_page_token=token
        )

    async def UpdateMeter(
        self, request: meter_pb.UpdateMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.UpdateMeterResponse:
        async def work(uow: MeteringUnit) -> meter_pb.UpdateMeterResponse:
            with convert.fields_under("meter."):
                meter = await self._meters.update(
                    uow, request.meter.id, list(request.update_mask.paths), request.meter.display_name
                )
            return meter_pb.UpdateMeterResponse(meter=convert.meter_to_proto(meter))

        return await self._mutations.run("UpdateMeter", request, meter_pb.UpdateMeterResponse, work)

    async def DeactivateMeter(
        self, request: meter_pb.DeactivateMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.DeactivateMeterResponse:
        async def work(uow: MeteringUnit) -> meter_pb.DeactivateMeterResponse:
            meter = await self._meters.deactivate(uow, request.meter_id)
            return meter_pb.DeactivateMeterResponse(meter=convert.meter_to_proto(meter))

        return await self._mutations.run("DeactivateMeter", request, meter_pb.DeactivateMeterResponse, work)

    async def ReactivateMeter(
        self, request: meter_pb.ReactivateMeterRequest, context: grpc.aio.ServicerContext
    ) -> meter_pb.ReactivateMeterResponse:
        async def work(uow: MeteringUnit) -> meter_pb.ReactivateMeterResponse:
            meter = await self._meters.reactivate(uow, request.meter_id)
            return meter_pb.ReactivateMeterResponse(meter=convert.meter_to_proto(meter))

        return await self._mutations.run("ReactivateMeter", request, meter_pb.ReactivateMeterResponse, work)
