"""The services invoicing calls, one channel to each per invoicing process: their RPCs,
and their event streams for webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opentelemetry import trace

from drawdown.config import Settings
from drawdown.credits.v1 import event_service_pb2 as credits_events_pb2
from drawdown.credits.v1 import event_service_pb2_grpc as credits_events_grpc
from drawdown.deadlines import Deadline
from drawdown.metering.v1 import event_service_pb2 as metering_events_pb2
from drawdown.metering.v1 import event_service_pb2_grpc as metering_events_grpc
from drawdown.rpc.clients import ServiceChannel, auth_metadata
from invoicing_service.adapters.credits import Credits
from invoicing_service.adapters.events import RemoteEvents
from invoicing_service.adapters.metering import Metering
from invoicing_service.adapters.peers import all_of


class Downstream:
    """Metering and credits, on channels that live as long as the process."""

    def __init__(self, settings: Settings, tracer_provider: trace.TracerProvider | None = None) -> None:
        # The calls carry the trace context of the request that makes them (O-4).
        self._metering_channel = ServiceChannel(
            settings.metering_address, settings.peer_connections, tracer_provider=tracer_provider
        )
        self._credits_channel = ServiceChannel(
            settings.credits_address, settings.peer_connections, tracer_provider=tracer_provider
        )
        metadata = auth_metadata(settings.service_api_key)
        self.metering = Metering(self._metering_channel, metadata)
        self.credits = Credits(self._credits_channel, metadata)
        # The event streams have connections of their own: a stream opened while a peer
        # is still starting leaves its connection waiting to reconnect, which the calls
        # of the RPCs must not inherit. They are not traced: each lasts as long as the
        # process, no request's part.
        metering_events, credits_events = (
            ServiceChannel(settings.metering_address),
            ServiceChannel(settings.credits_address),
        )
        self._event_channels = (metering_events, credits_events)
        self.event_streams = [
            RemoteEvents("metering", metering_events, metering_events_pb2, metering_events_grpc, metadata),
            RemoteEvents("credits", credits_events, credits_events_pb2, credits_events_grpc, metadata),
        ]

    async def close(self) -> None:
        for channel in (self._metering_channel, self._credits_channel, *self._event_channels):
            await channel.close()

    async def set_test_clock_time(
        self,
        clock_id: str,
        frozen_time: datetime,
        customer_ids: Sequence[str],
        request_id: str,
        deadline: Deadline,
    ) -> None:
        """Tell metering and credits a test clock's frozen time and attach customers to it
        (I-18), both at once (the peers keep the later of two times, so a repeat changes
        nothing). Unavailable if either peer is; a peer that predates I-18 is skipped."""
        await all_of(
            peer.clock_times.set(clock_id, frozen_time, customer_ids, request_id, deadline)
            for peer in (self.metering, self.credits)
        )

    async def delete_test_clock_time(self, clock_id: str, request_id: str, deadline: Deadline) -> None:
        """Tell metering and credits that a test clock is deleted (I-18): its customers are
        judged by the wall clock again. Safe to repeat; skips a peer that predates I-18."""
        await all_of(
            peer.clock_times.delete(clock_id, request_id, deadline) for peer in (self.metering, self.credits)
        )
