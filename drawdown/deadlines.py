"""How long the caller of an RPC still waits, as a value the use cases can carry.

Use cases know no transport: the servicer turns the call's context into a ``Deadline``
and the use case hands it to the calls it makes to other services, each of which waits
at most what is left, and never more than its own cap (an absent client deadline reads
as about 9e18 s in gRPC, which must not be passed on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

# A remaining time beyond this (gRPC's "no deadline") means the caller sets none.
_NONE_SET = 1e9


@dataclass(frozen=True)
class Deadline:
    """When the caller stops waiting, on ``time.monotonic()``; None: it sets no deadline."""

    at: float | None = None

    @classmethod
    def of(cls, context: Any) -> Deadline:
        """The deadline of a gRPC call's context (``time_remaining()``)."""
        remaining = context.time_remaining() if context is not None else None
        if remaining is None or remaining > _NONE_SET:
            return NO_DEADLINE
        return cls(time.monotonic() + remaining)

    def timeout(self, cap: float) -> float:
        """Seconds a call made now may take: what is left, at most ``cap``, at least 1 ms."""
        if self.at is None:
            return cap
        return min(cap, max(self.at - time.monotonic(), 0.001))


NO_DEADLINE = Deadline()
