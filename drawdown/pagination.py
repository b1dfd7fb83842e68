"""Lists: page sizes and opaque, signed keyset page tokens (X-4).

A token carries the sort key of the last row returned plus a digest of the query's
filters, so a token is refused when reused with other filters instead of silently
returning a wrong page, and an HMAC of both under the suite's page-token key, so a token
the suite did not issue (forged, altered, or from another suite) is refused before it is
read. Bad sizes and tokens are INVALID_ARGUMENT with the generic reason and the field
named, as every contract documents. Keyset (not offset) pagination keeps every page
O(page size).

The key is process-wide: every server of a process serves one suite, and each sets the
key its database holds when it starts (``use_signing_key``), so that every replica reads
the tokens of the others. Until then a random key signs (enough for one process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from drawdown.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
_MAC_BYTES = 16

_signing_key = os.urandom(32)


def use_signing_key(key: bytes) -> None:
    """Sign and check tokens with ``key`` from now on (the suite's shared page-token key)."""
    global _signing_key
    _signing_key = key


def _mac(payload: bytes) -> bytes:
    return hmac.new(_signing_key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_size(requested: int, field: str = "page_size") -> int:
    """0 means the default (10); more than 100 is capped at 100; negative is invalid."""
    if requested < 0:
        raise InvalidArgument.for_field(field, "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _query_digest(filters: Sequence[Any]) -> str:
    return hashlib.sha256(json.dumps([str(f) for f in filters]).encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(value["t"])
    return value


def encode_page_token(last_key: Sequence[Any], filters: Sequence[Any] = ()) -> str:
    """The token for the page after the row whose sort key is ``last_key``."""
    payload = {"k": [_encode_value(v) for v in last_key], "q": _query_digest(filters)}
    body = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(_mac(body))}"


def decode_page_token(token: str, filters: Sequence[Any] = (), field: str = "page_token") -> list[Any] | None:
    """The sort key a token continues after; None for an empty token (first page)."""
    if not token:
        return None
    foreign = InvalidArgument.for_field(field, "is not a token this service issued")
    encoded_body, _, encoded_mac = token.partition(".")
    try:
        body, mac = _unb64(encoded_body), _unb64(encoded_mac)
    except (ValueError, binascii.Error):
        raise foreign from None
    if not hmac.compare_digest(mac, _mac(body)):
        raise foreign
    try:
        payload = json.loads(body)
        key, digest = payload["k"], payload["q"]
        values = [_decode_value(v) for v in key]
    except (ValueError, KeyError, TypeError):
        raise foreign from None
    if digest != _query_digest(filters):
        raise InvalidArgument.for_field(field, "was issued for a list with other filters")
    return values


def next_page(rows: list[Any], size: int, key_of: Any, filters: Sequence[Any] = ()) -> tuple[list[Any], str]:
    """Given up to ``size + 1`` rows fetched, the page and the next token ("" on the last page)."""
    if len(rows) <= size:
        return rows, ""
    page = rows[:size]
    return page, encode_page_token(key_of(page[-1]), filters)
