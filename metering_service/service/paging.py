"""Page size and token of metering's lists (X-4), with the reasons metering's protos document.

The shared helpers name their own reasons (INVALID_PAGE_SIZE, INVALID_PAGE_TOKEN); the
metering contracts promise the generic INVALID_ARGUMENT reason for these fields, so that
is what metering's lists answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drawdown.errors import InvalidArgument
from drawdown.pagination import decode_page_token, page_size


def page_request(requested_size: int, token: str, filters: Sequence[Any]) -> tuple[int, list[Any] | None]:
    """The page size (default 10, at most 100) and the keyset a token continues after."""
    try:
        return page_size(requested_size), decode_page_token(token, filters)
    except InvalidArgument as error:
        raise InvalidArgument(
            error.message,
            reason=InvalidArgument.default_reason,
            metadata=error.metadata,
            field_violations=error.field_violations,
        ) from None
