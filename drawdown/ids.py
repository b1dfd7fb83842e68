"""Opaque, prefixed, time-sortable identifiers (``mtr_01JD...``).

The body is a ULID: 48 bits of milliseconds since the epoch then 80 random bits, in
Crockford base32, so ids sort by creation time as strings and never collide in practice.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Every resource prefix in one place, so two kinds never share one.
METER = "mtr"
METER_EVENT = "mev"
CREDIT_GRANT = "cg"
CREDIT_BALANCE_TRANSACTION = "cbt"
CREDIT_HOLD = "chd"
CUSTOMER = "cus"
PRODUCT = "prod"
PRICE = "price"
SUBSCRIPTION = "sub"
SUBSCRIPTION_ITEM = "si"
INVOICE = "in"
INVOICE_LINE = "il"
TEST_CLOCK = "clock"
API_KEY = "key"
EVENT = "evt"
WEBHOOK_ENDPOINT = "we"
WEBHOOK_DELIVERY = "whd"
USAGE_AUTHORIZATION = "uza"


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A new id with the given prefix, ordered by ``at_ms`` (default: now)."""
    millis = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def has_prefix(identifier: str, prefix: str) -> bool:
    """Whether ``identifier`` looks like an id of the kind ``prefix``."""
    return identifier.startswith(prefix + "_") and len(identifier) == len(prefix) + 27
