"""Keyset pages over id-ordered lists (X-4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from drawdown.pagination import decode_page_token, next_page, page_size

T = TypeVar("T")


async def page(
    request: Any, filters: Sequence[Any], fetch: Callable[[list[Any] | None, int], Awaitable[list[T]]]
) -> tuple[list[T], str]:
    """One page of rows (newest first, by id) and the next page's token."""
    size = page_size(request.page_size)
    after = decode_page_token(request.page_token, filters)
    rows = await fetch(after, size + 1)
    return next_page(rows, size, lambda row: [row.id], filters)
