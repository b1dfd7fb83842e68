"""Ids, page tokens, API key tokens, roles and the error table."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import psycopg
import pytest
import sqlalchemy.exc

from drawdown import errors, ids
from drawdown.auth.keys import issue_key, parse_token, secret_matches
from drawdown.auth.roles import Role, role_allows
from drawdown.pagination import decode_page_token, encode_page_token, next_page, page_size
from drawdown.rpc.errors import domain_error_from_exception, status_code_of, to_status
from drawdown.type.v1 import access_pb2


def test_ids_are_prefixed_and_sort_by_time() -> None:
    earlier, later = ids.new_id("cg", at_ms=1_000), ids.new_id("cg", at_ms=2_000)
    assert earlier < later
    assert ids.has_prefix(earlier, "cg") and not ids.has_prefix(earlier, "cus")


def test_page_size_defaults_caps_and_rejects_negative() -> None:
    assert (page_size(0), page_size(5), page_size(1000)) == (10, 5, 100)
    with pytest.raises(errors.InvalidArgument):
        page_size(-1)


def test_page_token_round_trip_and_refuses_other_filters() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    token = encode_page_token([moment, "cg_1"], filters=["cus_1"])
    assert decode_page_token(token, filters=["cus_1"]) == [moment, "cg_1"]
    with pytest.raises(errors.InvalidArgument):
        decode_page_token(token, filters=["cus_2"])
    with pytest.raises(errors.InvalidArgument):
        decode_page_token("garbage!", filters=["cus_1"])
    assert decode_page_token("") is None


def test_page_tokens_are_signed_so_an_altered_or_foreign_token_is_refused_x4() -> None:
    import base64

    from drawdown import pagination

    token = encode_page_token(["2026-01-01", "cg_1"], filters=["cus_1"])
    body, _, mac = token.partition(".")
    altered_body = base64.urlsafe_b64encode(b'{"k":[{"t":"not a time"}],"q":"x"}').decode().rstrip("=")
    for forged in (f"{altered_body}.{mac}", altered_body, f"{body}.", f"{body}.{mac[:-2]}AA", token + "x"):
        with pytest.raises(errors.InvalidArgument) as raised:
            decode_page_token(forged, filters=["cus_1"])
        assert raised.value.field_violations[0].field == "page_token"
    original = pagination._signing_key
    try:
        pagination.use_signing_key(b"another suite's key, 32 bytes ok")
        with pytest.raises(errors.InvalidArgument):  # a token of another suite
            decode_page_token(token, filters=["cus_1"])
    finally:
        pagination.use_signing_key(original)
    assert decode_page_token(token, filters=["cus_1"]) == ["2026-01-01", "cg_1"]


def test_next_page_returns_a_token_only_when_more_rows_exist() -> None:
    assert next_page([1, 2], 2, key_of=lambda r: [r]) == ([1, 2], "")
    page, token = next_page([1, 2, 3], 2, key_of=lambda r: [r])
    assert page == [1, 2] and decode_page_token(token) == [2]


def test_api_key_tokens_verify_only_their_own_secret() -> None:
    issued = issue_key()
    key_id, secret = parse_token(issued.token)
    assert key_id == issued.key_id
    assert secret_matches(secret, issued.secret_hash)
    assert not secret_matches(secret + "x", issued.secret_hash)
    assert parse_token("Bearer nonsense") is None


def test_an_rpc_may_accept_alternative_permissions() -> None:
    from drawdown.credits.v1 import credit_grant_service_pb2  # noqa: F401  (registers the service)
    from drawdown.rpc.interceptors import accepted_permissions

    create_grant = accepted_permissions("/drawdown.credits.v1.CreditGrantService/CreateCreditGrant")
    assert create_grant == {access_pb2.PERMISSION_WRITE, access_pb2.PERMISSION_SERVICE}
    assert role_allows(Role.SERVICE, create_grant)  # invoicing creates the grant of a paid purchase
    assert not role_allows(Role.READ, create_grant)
    assert not role_allows(
        Role.SERVICE, accepted_permissions("/drawdown.credits.v1.CreditGrantService/VoidCreditGrant")
    )


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, {"READ", "INGEST", "WRITE", "UNSPECIFIED"}),  # SERVICE alone is for services
        (Role.INGEST, {"INGEST"}),
        (Role.READ, {"READ"}),
        (Role.SERVICE, {"READ", "INGEST", "SERVICE"}),  # INGEST: captured usage
    ],
)
def test_roles_grant_their_permissions_only(role: Role, allowed: set[str]) -> None:
    for name in ("READ", "INGEST", "WRITE", "SERVICE", "UNSPECIFIED"):
        assert role_allows(role, access_pb2.Permission.Value(f"PERMISSION_{name}")) == (name in allowed), name


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.ResourceExhausted("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Aborted("x"), grpc.StatusCode.ABORTED),
        (errors.Unavailable("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied("x"), grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_each_error_kind_has_one_status_code(error: errors.DomainError, code: grpc.StatusCode) -> None:
    assert status_code_of(error) == code


def test_unknown_exceptions_are_not_domain_errors() -> None:
    assert domain_error_from_exception(RuntimeError("bug")) is None
    assert status_code_of(domain_error_from_exception(NotImplementedError())) == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("driver_error", "code", "reason"),
    [
        (psycopg.errors.ProgramLimitExceeded, grpc.StatusCode.INVALID_ARGUMENT, "VALUE_OUT_OF_RANGE"),
        (psycopg.errors.NumericValueOutOfRange, grpc.StatusCode.INVALID_ARGUMENT, "VALUE_OUT_OF_RANGE"),
        (psycopg.errors.UntranslatableCharacter, grpc.StatusCode.INVALID_ARGUMENT, "VALUE_OUT_OF_RANGE"),
        (psycopg.errors.ConnectionFailure, grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE"),
        (psycopg.errors.AdminShutdown, grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE"),
        (psycopg.errors.TooManyConnections, grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE"),
        (psycopg.errors.SerializationFailure, grpc.StatusCode.ABORTED, "SERIALIZATION_FAILURE"),
    ],
)
def test_database_errors_are_retryable_only_when_retrying_can_help_x8(
    driver_error: type[psycopg.Error], code: grpc.StatusCode, reason: str
) -> None:
    wrapped = sqlalchemy.exc.DBAPIError.instance("SELECT 1", {}, driver_error("x"), psycopg.Error)
    error = domain_error_from_exception(wrapped)
    assert error is not None and (status_code_of(error), error.reason) == (code, reason)


def test_an_error_status_echoes_at_most_200_characters_of_any_value_x5() -> None:
    error = errors.InvalidArgument.for_field(
        "metadata[" + "k" * 5_000 + "]", "v" * 5_000 + " is not allowed", metadata={"value": "v" * 5_000}
    )
    status = to_status(error)
    assert len(status.details) < 1_000
    assert all(len(value) < 2_000 for _, value in status.trailing_metadata)


class _Context:
    def __init__(self, remaining: float | None) -> None:
        self._remaining = remaining

    def time_remaining(self) -> float | None:
        return self._remaining


def test_outbound_deadline_is_the_smaller_of_remaining_time_and_cap() -> None:
    from drawdown.deadlines import Deadline

    assert Deadline.of(_Context(9e18)).timeout(cap=2.0) == 2.0  # no caller deadline
    assert 0.49 < Deadline.of(_Context(0.5)).timeout(cap=2.0) <= 0.5
    assert Deadline.of(None).timeout(cap=2.0) == 2.0
    assert Deadline.of(_Context(-1)).timeout(cap=2.0) > 0


def test_a_batch_entry_error_keeps_its_kind_and_names_the_entry() -> None:
    error = errors.InvalidArgument.for_field("invoice.currency", "not ISO 4217", reason="INVALID_CURRENCY")

    entry_error = errors.for_batch_entry(error, 3)

    assert type(entry_error) is errors.InvalidArgument
    assert entry_error.reason == "INVALID_CURRENCY"
    assert entry_error.metadata == {"field": "requests[3].invoice.currency", "index": "3"}
    assert [v.field for v in entry_error.field_violations] == ["requests[3].invoice.currency"]
    assert entry_error.message.startswith("requests[3]: ")
