"""``drawdown keys create|list|revoke|rotate`` as an operator runs them (O-3): processes
working on the key store, with real servers honouring what they did."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from drawdown.auth.v1 import api_key_service_pb2 as pb
from drawdown.auth.v1 import api_key_service_pb2_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from tests.support.harness import Suite, bearer

CREATED = re.compile(r"Created (\w+) key (key_\w+)(?:, expiring ([^.]+))?\. .*\n(dd_\S+)")


async def drawdown(database_url: str, cwd: Path, *args: str, columns: int = 80) -> tuple[int, str, str]:
    """Run the CLI against the test database in a terminal ``columns`` wide; its exit
    code, stdout and stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DRAWDOWN_")}
    env |= {"DRAWDOWN_DATABASE_URL": database_url, "COLUMNS": str(columns)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drawdown.cli",
        "keys",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def succeeds(database_url: str, cwd: Path, *args: str, columns: int = 80) -> str:
    code, stdout, stderr = await drawdown(database_url, cwd, *args, columns=columns)
    assert code == 0, stderr
    return stdout


async def list_meters(suite: Suite, token: str) -> None:
    stub = meter_grpc.MeterServiceStub(suite.channel("metering"))
    await stub.ListMeters(meter_pb.ListMetersRequest(), metadata=bearer(token))


async def refused_within_5_seconds(suite: Suite, token: str) -> None:
    async with asyncio.timeout(5.5):
        while True:
            try:
                await list_meters(suite, token)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                return
            await asyncio.sleep(0.05)


async def test_keys_created_rotated_and_revoked_from_the_cli_are_honoured_by_the_servers(
    running_suite: Suite, database_url: str, tmp_path: Path
) -> None:
    created = CREATED.search(
        await succeeds(
            database_url, tmp_path, "create", "--role", "read", "--label", "dashboards", "--expires-in", "15m"
        )
    )
    assert created is not None and created.group(1) == "read" and created.group(3)
    key_id, token = created.group(2), created.group(4)
    await list_meters(running_suite, token)
    stored = await api_key_service_pb2_grpc.ApiKeyServiceStub(running_suite.channel("credits")).ListApiKeys(
        pb.ListApiKeysRequest(), metadata=bearer(running_suite.admin_key)
    )
    mine = next(key for key in stored.api_keys if key.id == key_id)
    lifetime = mine.expire_time.ToDatetime() - mine.create_time.ToDatetime()
    assert lifetime == timedelta(minutes=15)

    rotated = await succeeds(
        database_url, tmp_path, "rotate", key_id, "--overlap", "1h", "--expires-in", "30d"
    )
    assert f"Key {key_id} stops working at " in rotated
    replacement = CREATED.search(rotated)
    assert replacement is not None and replacement.group(1) == "read"
    new_id, new_token = replacement.group(2), replacement.group(4)
    await list_meters(running_suite, token)  # the overlap
    await list_meters(running_suite, new_token)

    assert f"Revoked key {new_id}" in await succeeds(database_url, tmp_path, "revoke", new_id)
    await refused_within_5_seconds(running_suite, new_token)


async def test_keys_list_shows_every_key_with_whole_ids(
    running_suite: Suite, database_url: str, tmp_path: Path
) -> None:
    created = CREATED.search(
        await succeeds(database_url, tmp_path, "create", "--role", "ingest", "--label", "streaming")
    )
    assert created is not None
    listing = await succeeds(database_url, tmp_path, "list", columns=160)
    row = next(line for line in listing.splitlines() if created.group(2) in line)
    assert "ingest" in row and "streaming" in row
    assert created.group(4) not in listing
    assert sum("key_" in line for line in listing.splitlines()) == 3  # and the suite's admin and service keys
    narrow = await succeeds(database_url, tmp_path, "list", columns=50)
    assert sum(created.group(2) in line for line in narrow.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("revoke", "key_missing"), "no API key 'key_missing'"),
        (("create", "--role", "read", "--expires-in", "15x"), "is not a duration such as 15m, 2h or 30d"),
    ],
)
async def test_keys_commands_say_what_is_wrong(
    database_url: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, stderr = await drawdown(database_url, tmp_path, *args)
    assert code != 0 and message in stderr
