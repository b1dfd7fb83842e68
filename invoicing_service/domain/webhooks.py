"""Webhook endpoints and deliveries (E-4, E-5): what an endpoint accepts, when a failed
delivery is tried again, and when an endpoint has failed for long enough to be disabled."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from drawdown.errors import InvalidArgument
from drawdown.events import types
from invoicing_service.domain import reasons

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
# The first retry after a failure, doubling after each further failure up to the longest.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
# How long a delivery is tried, and how long an endpoint may fail before it is disabled.
RETRY_PERIOD = timedelta(days=3)
# How long an attempt waits for an answer.
ATTEMPT_TIMEOUT = timedelta(seconds=10)
# Why an endpoint is disabled: by the service after its failures, or none (enabled, or
# disabled by an update).
DISABLED_FOR_FAILURES = "deliveries failed for 3 days"
NOT_DISABLED_BY_FAILURES = ""


class EndpointStatus(enum.Enum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint:
    id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    status: EndpointStatus
    secret: str
    disabled_reason: str
    failing_since: datetime | None
    create_time: datetime
    update_time: datetime

    def wants(self, event_type: str, created: datetime) -> bool:
        """Whether an event of ``event_type`` created at ``created`` is sent here: the
        endpoint is enabled, subscribed to the type and existed when the event was created."""
        return (
            self.status is EndpointStatus.ENABLED
            and (types.EVERY_TYPE in self.event_types or event_type in self.event_types)
            and created >= self.create_time
        )


@dataclass(frozen=True, kw_only=True)
class Attempt:
    attempt_time: datetime
    http_status: int
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return 200 <= self.http_status < 300


@dataclass(frozen=True, kw_only=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    next_attempt_time: datetime | None
    create_time: datetime

    def after(self, attempt: Attempt) -> Delivery:
        """The delivery once ``attempt`` is made: delivered on a 2xx; else due again after
        a backoff that doubles with each failure, the last time when the retry period
        ends, and failed when that last attempt fails too."""
        attempts = (*self.attempts, attempt)
        if attempt.delivered:
            return replace(self, status=DeliveryStatus.DELIVERED, attempts=attempts, next_attempt_time=None)
        last = self.create_time + RETRY_PERIOD
        if attempt.attempt_time >= last:
            return replace(self, status=DeliveryStatus.FAILED, attempts=attempts, next_attempt_time=None)
        failures = sum(1 for a in attempts if not a.delivered)
        retry = min(attempt.attempt_time + retry_delay(failures), last)
        return replace(self, status=DeliveryStatus.PENDING, attempts=attempts, next_attempt_time=retry)


def retry_delay(failures: int) -> timedelta:
    """1 minute after the first failure, 2 after the second, 4 ... at most 6 hours."""
    return min(FIRST_RETRY * 2 ** max(failures - 1, 0), LONGEST_RETRY)


def endpoint_after_attempt(endpoint: WebhookEndpoint, attempt: Attempt) -> WebhookEndpoint:
    """The endpoint once one of its deliveries was attempted: a success ends its failing
    spell; a failure starts one or, after 3 days of them, disables it (E-4)."""
    if attempt.delivered:
        return endpoint if endpoint.failing_since is None else replace(endpoint, failing_since=None)
    since = endpoint.failing_since or attempt.attempt_time
    if endpoint.status is EndpointStatus.ENABLED and attempt.attempt_time - since >= RETRY_PERIOD:
        return replace(
            endpoint,
            status=EndpointStatus.DISABLED,
            disabled_reason=DISABLED_FOR_FAILURES,
            failing_since=since,
            update_time=attempt.attempt_time,
        )
    return endpoint if endpoint.failing_since == since else replace(endpoint, failing_since=since)


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def validate_url(url: str, field: str) -> str:
    parts = urlsplit(url)
    if (
        not url
        or len(url) > MAX_URL_LENGTH
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in url)
    ):
        raise InvalidArgument.for_field(
            field, "must be an absolute http or https URL", reason=reasons.INVALID_WEBHOOK_URL
        )
    return url


def validate_event_types(event_types: Sequence[str], field: str) -> tuple[str, ...]:
    if not event_types:
        raise InvalidArgument.for_field(field, "must name at least one event type, or *")
    for index, event_type in enumerate(event_types):
        if event_type != types.EVERY_TYPE and event_type not in types.ALL:
            raise InvalidArgument.for_field(
                f"{field}[{index}]", f"{event_type!r} is no event type", reason=reasons.UNKNOWN_EVENT_TYPE
            )
    return tuple(dict.fromkeys(event_types))


def validate_description(description: str, field: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


@dataclass(frozen=True, slots=True)
class SourcedEvent:
    """An event of one of the services, as webhooks send it: its place in its service's
    stream, what endpoints filter on, and the JSON body every endpoint is sent."""

    position: int
    id: str
    type: str
    create_time: datetime
    body: bytes


class SourceWithoutEvents(Exception):
    """A service does not serve events (a version from before E-3)."""
