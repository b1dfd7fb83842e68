"""Calls from one Drawdown service to another.

Every outbound call carries the service API key, a deadline of
``min(caller's time remaining, cap)`` (an absent caller deadline reads as ~9e18 s and must
not be passed on), and is retried on UNAVAILABLE only; every cross-service RPC we make
is idempotent or carries a request id, so a retry never does the work twice.
"""

from __future__ import annotations

import json

import grpc

_RETRY_POLICY = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(_RETRY_POLICY)),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
]


def service_channel(address: str) -> grpc.aio.Channel:
    """A channel to another Drawdown service, with retries on UNAVAILABLE."""
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the service key."""
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def deadline(context: grpc.aio.ServicerContext | None, cap: float) -> float:
    """Seconds an outbound call may take: the caller's remaining time, at most ``cap``."""
    remaining = context.time_remaining() if context is not None else None
    if remaining is None or remaining > cap:
        return cap
    return max(remaining, 0.001)
