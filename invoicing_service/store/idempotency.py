"""Reading a request id's stored response without claiming it (X-1, X-7)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from invoicing_service.store.schema import idempotency_keys


class RequestStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def stored_response(self, operation: str, request_id: str) -> tuple[bytes, bytes] | None:
        """(fingerprint, response) stored for ``request_id`` by a committed call of
        ``operation``, or None. Takes no lock: a call still running under the id is not seen."""
        row = (
            await self._session.execute(
                sa.select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(
                    idempotency_keys.c.operation == operation,
                    idempotency_keys.c.request_id == request_id,
                    idempotency_keys.c.response.is_not(None),
                )
            )
        ).first()
        return None if row is None else (bytes(row.fingerprint), bytes(row.response))
