"""EnumMap pairs a contract enum with a domain enum by name, both ways (drawdown.rpc.enums)."""

from __future__ import annotations

import enum

import pytest

from drawdown.errors import InvalidArgument
from drawdown.metering.v1 import meter_pb2
from drawdown.rpc.enums import EnumMap


class Status(enum.Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"


def test_values_pair_with_the_members_of_their_name_both_ways() -> None:
    statuses = EnumMap(meter_pb2.MeterStatus, Status)

    assert statuses.from_proto(meter_pb2.METER_STATUS_INACTIVE) is Status.INACTIVE
    assert statuses.to_proto(Status.ACTIVE) == meter_pb2.METER_STATUS_ACTIVE
    assert statuses.from_proto(meter_pb2.METER_STATUS_UNSPECIFIED) is None
    assert statuses.from_proto(99) is None
    assert statuses.to_proto(None) == 0


def test_a_member_the_contract_cannot_carry_fails_at_once() -> None:
    class Extra(enum.Enum):
        ACTIVE = "active"
        ARCHIVED = "archived"

    with pytest.raises(ValueError, match="ARCHIVED"):
        EnumMap(meter_pb2.MeterStatus, Extra)


def test_renamed_members_pair_under_their_contract_name() -> None:
    class Renamed(enum.Enum):
        ON = "on"
        OFF = "off"

    statuses = EnumMap(
        meter_pb2.MeterStatus, Renamed, renamed={"ACTIVE": Renamed.ON, "INACTIVE": Renamed.OFF}
    )

    assert statuses.from_proto(meter_pb2.METER_STATUS_ACTIVE) is Renamed.ON
    assert statuses.to_proto(Renamed.OFF) == meter_pb2.METER_STATUS_INACTIVE


def test_a_request_value_the_domain_does_not_know_is_invalid_argument_naming_the_field() -> None:
    statuses = EnumMap(meter_pb2.MeterStatus, Status)

    assert statuses.parse(meter_pb2.METER_STATUS_UNSPECIFIED, "status") is None
    assert statuses.parse(meter_pb2.METER_STATUS_ACTIVE, "status") is Status.ACTIVE
    with pytest.raises(InvalidArgument) as raised:
        statuses.parse(7, "filter.status")
    assert [violation.field for violation in raised.value.field_violations] == ["filter.status"]


def test_only_the_members_one_contract_enum_carries_need_a_value_there() -> None:
    class Kind(enum.Enum):
        ACTIVE = "active"
        GRANTED = "granted"  # carried by another contract enum

    kinds = EnumMap(meter_pb2.MeterStatus, Kind, only=[Kind.ACTIVE])

    assert kinds.to_proto(Kind.ACTIVE) == meter_pb2.METER_STATUS_ACTIVE
