"""Domain errors → google.rpc.Status: the one table from error kind to gRPC code (X-2).

The status carries a google.rpc.ErrorInfo (stable ``reason``, domain ``drawdown.dev``,
metadata) and, for bad arguments, a google.rpc.BadRequest with field violations.
Database faults a client can retry are mapped too; anything else is INTERNAL with a
generic message (the traceback goes to the log, never to the caller).
"""

from __future__ import annotations

import grpc
import sqlalchemy.exc
import structlog
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from drawdown import errors, reasons

ERROR_DOMAIN = "drawdown.dev"

log = structlog.get_logger("drawdown.rpc")

STATUS_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
}

# PostgreSQL SQLSTATEs after which retrying the whole request is the right move.
_RETRYABLE_SQLSTATES = {"40001": "SERIALIZATION_FAILURE", "40P01": "DEADLOCK_DETECTED"}
# SQLSTATE classes of a database that is unreachable or out of resources for now: 08
# connection exception, 53 insufficient resources, 57P01..57P03 shutting down or starting.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03")
# Classes that mean the request holds a value the store cannot take (22 data exception:
# numeric out of range, NUL in text...; 54 program limit exceeded: an index row too
# large): the same request would fail again, so they are permanent. Each one is a
# check the service lacks where the input enters, so it is logged as a warning.
_PERMANENT_SQLSTATE_PREFIXES = ("22", "54")
# The most characters of any text an error carries back (X-5: an error echoes at most
# 200 characters of a bad value), so no value can push the trailers over their limit.
MAX_ECHO = 200


def status_code_of(error: errors.DomainError) -> grpc.StatusCode:
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return grpc.StatusCode.UNKNOWN


def domain_error_from_exception(exc: BaseException) -> errors.DomainError | None:
    """The domain error an exception stands for, or None if it is a bug (→ INTERNAL)."""
    if isinstance(exc, errors.DomainError):
        return exc
    if isinstance(exc, NotImplementedError):
        return errors.Unimplemented("this RPC is not implemented yet", reason=reasons.UNIMPLEMENTED)
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES:
            return errors.Aborted(
                "concurrent update; retry the request", reason=_RETRYABLE_SQLSTATES[sqlstate]
            )
        if sqlstate and sqlstate.startswith(_PERMANENT_SQLSTATE_PREFIXES):
            log.warning("rpc.value_refused_by_database", sqlstate=sqlstate, error=str(exc.orig)[:MAX_ECHO])
            return errors.InvalidArgument(
                "a value in the request is beyond what the service stores", reason=reasons.VALUE_OUT_OF_RANGE
            )
        if exc.connection_invalidated or (
            isinstance(exc, sqlalchemy.exc.OperationalError)
            and (sqlstate is None or sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES))
        ):
            return errors.Unavailable(
                "database unavailable; retry later", reason=reasons.DATABASE_UNAVAILABLE
            )
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return errors.Unavailable(
            "database connection pool exhausted; retry later", reason=reasons.DATABASE_BUSY
        )
    return None


def to_status(error: errors.DomainError) -> grpc.Status:
    """The rich status (ErrorInfo, BadRequest) for a domain error."""
    details = []
    metadata = {_clip(key): _clip(value) for key, value in error.metadata.items()}
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)
    details.append(_pack(info))
    if error.field_violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_clip(v.field), description=_clip(v.description)
                )
                for v in error.field_violations[:100]
            ]
        )
        details.append(_pack(bad_request))
    code = status_code_of(error)
    message = _clip(error.message, 2 * MAX_ECHO)
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=details))


def _clip(text: str, limit: int = MAX_ECHO) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def internal_status() -> grpc.Status:
    return rpc_status.to_status(
        status_pb2.Status(
            code=grpc.StatusCode.INTERNAL.value[0], message="internal error; it has been logged"
        )
    )


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
