"""Typed domain errors.

Pure Python: domain and service code raise these without knowing about gRPC. Each kind
maps to one gRPC status code in a single table (``drawdown.rpc.errors``); the ``reason``
is a stable UPPER_SNAKE code clients can branch on, sent as google.rpc.ErrorInfo, and
``field_violations`` become google.rpc.BadRequest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad request field: its path (``payload.value``, ``lines[2].amount``) and why."""

    field: str
    description: str


class DomainError(Exception):
    """A business rule refused the request. Subclasses choose the kind (and so the code)."""

    default_reason = "DOMAIN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = {key: str(value) for key, value in (metadata or {}).items()}
        self.field_violations = tuple(field_violations)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason}: {self.message})"


class InvalidArgument(DomainError):
    """The request itself is malformed; it names the offending field(s)."""

    default_reason = "INVALID_ARGUMENT"

    @classmethod
    def for_field(
        cls,
        field: str,
        description: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> InvalidArgument:
        """The common case: one field is wrong. The message names it."""
        return cls(
            f"{field}: {description}",
            reason=reason,
            metadata={"field": field, **(metadata or {})},
            field_violations=[FieldViolation(field, description)],
        )


class NotFound(DomainError):
    """A referenced resource does not exist."""

    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    """The resource exists already, or an identifier was reused with different content."""

    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The request is well-formed but the resource's state does not allow it."""

    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    """A quota or capacity limit was hit (rate limits, message sizes); retry later or smaller."""

    default_reason = "RESOURCE_EXHAUSTED"


class Aborted(DomainError):
    """A concurrent change won; retrying the whole request is safe."""

    default_reason = "ABORTED"


class Unavailable(DomainError):
    """A dependency (another service, the database) cannot be reached; retry later."""

    default_reason = "UNAVAILABLE"


class Unauthenticated(DomainError):
    """No API key, or one that is malformed, unknown or revoked."""

    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """The API key's role does not allow this call."""

    default_reason = "PERMISSION_DENIED"


class Unimplemented(DomainError):
    """The RPC is part of the contract but not built yet."""

    default_reason = "UNIMPLEMENTED"


def for_batch_entry(error: DomainError, index: int, *, field: str = "requests") -> DomainError:
    """``error`` raised for entry ``index`` of a batch: the same kind and reason, its field
    paths under ``requests[index]`` and the index in its metadata, so the caller knows
    which entry to fix."""
    entry = f"{field}[{index}]"
    batch_error = type(error)(
        f"{entry}: {error.message}",
        reason=error.reason,
        metadata={**error.metadata, "index": str(index)},
        field_violations=[
            FieldViolation(f"{entry}.{v.field}", v.description) for v in error.field_violations
        ],
    )
    if "field" in error.metadata:
        batch_error.metadata["field"] = f"{entry}.{error.metadata['field']}"
    return batch_error
