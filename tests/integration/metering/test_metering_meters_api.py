"""MeterService through a real server and PostgreSQL (M-1..M-4, M-17, X-1, X-2, X-4)."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from drawdown.metering.v1 import meter_pb2
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from tests.integration.metering.metering_client import NOW, Metering, error_of, event

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_m1_create_meter_applies_defaults_and_get_returns_it(metering: Metering) -> None:
    created = await metering.create_meter(dimension_keys=("model",), window=meter_pb2.EVENT_TIME_WINDOW_HOUR)
    assert created.id.startswith("mtr_")
    assert created.customer_mapping.event_payload_key == "customer_id"
    assert created.value_settings.event_payload_key == "value"
    assert created.status == meter_pb2.METER_STATUS_ACTIVE
    assert list(created.dimension_keys) == ["model"]
    assert created.event_time_window == meter_pb2.EVENT_TIME_WINDOW_HOUR
    assert not created.HasField("deactivate_time")
    fetched = await metering.meters.GetMeter(
        meter_pb.GetMeterRequest(meter_id=created.id), metadata=metering.metadata
    )
    assert fetched.meter == created


@pytest.mark.parametrize("formula", [f for f in meter_pb2.AggregationFormula.values() if f])
async def test_m2_every_formula_can_be_created(metering: Metering, formula: int) -> None:
    created = await metering.create_meter(f"formula_{formula}", formula)
    assert created.aggregation_formula == formula


async def test_m1_event_name_is_unique_among_meters(metering: Metering) -> None:
    first = await metering.create_meter("tokens")
    await metering.meters.DeactivateMeter(
        meter_pb.DeactivateMeterRequest(meter_id=first.id), metadata=metering.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.create_meter("tokens")
    assert error_of(raised.value)[:2] == (grpc.StatusCode.ALREADY_EXISTS, "EVENT_NAME_TAKEN")


@pytest.mark.parametrize(
    ("meter", "field"),
    [
        (
            meter_pb2.Meter(event_name="x", aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM),
            "meter.display_name",
        ),
        (meter_pb2.Meter(display_name="x", event_name="bad name", aggregation_formula=1), "meter.event_name"),
        (meter_pb2.Meter(display_name="x", event_name="x"), "meter.aggregation_formula"),
        (
            meter_pb2.Meter(
                display_name="x", event_name="x", aggregation_formula=1, dimension_keys=["m", "value"]
            ),
            "meter.dimension_keys[1]",
        ),
    ],
)
async def test_m1_invalid_meter_names_the_field(
    metering: Metering, meter: meter_pb2.Meter, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.CreateMeter(
            meter_pb.CreateMeterRequest(meter=meter), metadata=metering.metadata
        )
    assert error_of(raised.value) == (INVALID, "INVALID_ARGUMENT", [field])


async def test_m3_update_changes_only_the_display_name(metering: Metering) -> None:
    created = await metering.create_meter()
    updated = await metering.meters.UpdateMeter(
        meter_pb.UpdateMeterRequest(
            meter=meter_pb2.Meter(id=created.id, display_name="Input tokens"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=metering.metadata,
    )
    assert updated.meter.display_name == "Input tokens"
    assert updated.meter.event_name == created.event_name
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.UpdateMeter(
            meter_pb.UpdateMeterRequest(
                meter=meter_pb2.Meter(id=created.id, event_name="other"),
                update_mask=field_mask_pb2.FieldMask(paths=["event_name"]),
            ),
            metadata=metering.metadata,
        )
    assert error_of(raised.value) == (INVALID, "IMMUTABLE_FIELD", ["meter.event_name"])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.UpdateMeter(
            meter_pb.UpdateMeterRequest(meter=meter_pb2.Meter(id=created.id)), metadata=metering.metadata
        )
    assert error_of(raised.value) == (INVALID, "INVALID_ARGUMENT", ["update_mask"])


async def test_m3_deactivate_refuses_events_and_reactivate_accepts_them_without_backfill(
    metering: Metering,
) -> None:
    meter = await metering.create_meter()
    deactivated = (
        await metering.meters.DeactivateMeter(
            meter_pb.DeactivateMeterRequest(meter_id=meter.id), metadata=metering.metadata
        )
    ).meter
    assert deactivated.status == meter_pb2.METER_STATUS_INACTIVE and deactivated.HasField("deactivate_time")
    again = (
        await metering.meters.DeactivateMeter(
            meter_pb.DeactivateMeterRequest(meter_id=meter.id), metadata=metering.metadata
        )
    ).meter
    assert again == deactivated
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(event("while-inactive", "5"))
    assert error_of(raised.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "METER_INACTIVE")
    reactivated = (
        await metering.meters.ReactivateMeter(
            meter_pb.ReactivateMeterRequest(meter_id=meter.id), metadata=metering.metadata
        )
    ).meter
    assert reactivated.status == meter_pb2.METER_STATUS_ACTIVE and not reactivated.HasField("deactivate_time")
    await metering.send(event("after", "2"))
    assert await metering.total(meter.id, NOW - timedelta(hours=1), NOW + timedelta(hours=1)) == 2


async def test_x4_list_meters_newest_first_filtered_by_status_and_paged(metering: Metering) -> None:
    created = [await metering.create_meter(f"meter_{index}") for index in range(5)]
    await metering.meters.DeactivateMeter(
        meter_pb.DeactivateMeterRequest(meter_id=created[1].id), metadata=metering.metadata
    )
    seen, token = [], ""
    while True:
        page = await metering.meters.ListMeters(
            meter_pb.ListMetersRequest(page_size=2, page_token=token), metadata=metering.metadata
        )
        seen += [meter.id for meter in page.meters]
        token = page.next_page_token
        if not token:
            break
    assert seen == [meter.id for meter in reversed(created)]
    inactive = await metering.meters.ListMeters(
        meter_pb.ListMetersRequest(status=meter_pb2.METER_STATUS_INACTIVE), metadata=metering.metadata
    )
    assert [meter.id for meter in inactive.meters] == [created[1].id]


async def test_x1_create_meter_with_a_request_id_runs_once(metering: Metering) -> None:
    request = meter_pb.CreateMeterRequest(
        meter=meter_pb2.Meter(display_name="Tokens", event_name="tokens", aggregation_formula=1),
        request_id="r-1",
    )
    first = await metering.meters.CreateMeter(request, metadata=metering.metadata)
    again = await metering.meters.CreateMeter(request, metadata=metering.metadata)
    assert first == again
    request.meter.display_name = "Other"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.CreateMeter(request, metadata=metering.metadata)
    assert error_of(raised.value)[:2] == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_get_unknown_meter_is_not_found(metering: Metering) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.meters.GetMeter(
            meter_pb.GetMeterRequest(meter_id="mtr_missing"), metadata=metering.metadata
        )
    assert error_of(raised.value)[:2] == (grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")


async def test_x4_bad_page_size_and_token_are_invalid_argument(metering: Metering) -> None:
    for request, field in (
        (meter_pb.ListMetersRequest(page_size=-1), "page_size"),
        (meter_pb.ListMetersRequest(page_token="garbage"), "page_token"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await metering.meters.ListMeters(request, metadata=metering.metadata)
        assert error_of(raised.value) == (INVALID, "INVALID_ARGUMENT", [field])
