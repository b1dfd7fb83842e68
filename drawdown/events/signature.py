"""Webhook signatures (E-4): how Drawdown signs a delivery, and how a receiver checks one.

The header is ``Drawdown-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
computed over the exact bytes of the body. A receiver recomputes the HMAC with its
endpoint's secret, compares in constant time, and refuses a timestamp too far from its
own clock (a replayed old delivery). This module needs only the standard library::

    from drawdown.events.signature import verify
    event = json.loads(verify(body, request.headers["Drawdown-Signature"], secret))
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Drawdown-Signature"
# How far a delivery's timestamp may be from the receiver's clock, by default.
TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The header is missing or malformed, no signature matches, or it is too old."""


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Drawdown-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bytes:
    """``body`` when ``header`` signs it with ``secret`` within ``tolerance`` seconds of
    ``now`` (default: this machine's clock); else :class:`InvalidSignature`."""
    if not header:
        raise InvalidSignature(f"no {HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature(f"{HEADER} has no t=… and v1=… parts")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise InvalidSignature("no signature matches the body")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature("the signature's timestamp is outside the tolerance")
    return body


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
