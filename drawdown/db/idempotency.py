"""The request_id idempotency store (SPEC X-1).

Every mutating RPC may carry a request id. The first call claims ``(operation,
request_id)`` inside its own transaction and stores its response there; a retry with the
same id and the same request gets that response back; the same id with a different
request is ALREADY_EXISTS (``REQUEST_ID_REUSED``). Two concurrent calls with one id
serialize on the primary key: the second waits for the first to commit, then replays.

Each service keeps the table in its own schema (see :func:`idempotency_table`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.errors import AlreadyExists, InvalidArgument

MAX_REQUEST_ID_LENGTH = 255


def idempotency_columns() -> list[sa.Column]:
    """The columns of ``idempotency_keys``: one definition for the table and its migrations."""
    return [
        sa.Column("operation", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("response", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def idempotency_table(metadata: sa.MetaData) -> sa.Table:
    """The ``idempotency_keys`` table for a service's schema (declared in its metadata)."""
    return sa.Table("idempotency_keys", metadata, *idempotency_columns())


def fingerprint(request_bytes: bytes) -> bytes:
    """A digest of the request (serialized without its request id)."""
    return hashlib.sha256(request_bytes).digest()


def validate_request_id(request_id: str, field: str = "request_id") -> None:
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidArgument.for_field(
            field, f"must be at most {MAX_REQUEST_ID_LENGTH} characters", reason="REQUEST_ID_TOO_LONG"
        )


class IdempotencyStore:
    """Claims and replays request ids in one service's table."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table

    async def claim(
        self, session: AsyncSession, operation: str, request_id: str, request_fingerprint: bytes, now: datetime
    ) -> bytes | None:
        """Claim the id for this transaction, or return the response stored by an earlier call.

        Returns None when the caller should do the work (and then :meth:`complete`).
        """
        validate_request_id(request_id)
        inserted = await session.execute(
            insert(self.table)
            .values(operation=operation, request_id=request_id, fingerprint=request_fingerprint, created_at=now)
            .on_conflict_do_nothing()
            .returning(self.table.c.request_id)
        )
        if inserted.first() is not None:
            return None
        row = (
            await session.execute(
                sa.select(self.table.c.fingerprint, self.table.c.response).where(
                    self.table.c.operation == operation, self.table.c.request_id == request_id
                )
            )
        ).one()
        if row.fingerprint != request_fingerprint:
            raise AlreadyExists(
                f"request_id {request_id!r} was already used for a different {operation} request",
                reason="REQUEST_ID_REUSED",
                metadata={"request_id": request_id, "operation": operation},
            )
        return row.response

    async def complete(self, session: AsyncSession, operation: str, request_id: str, response: bytes) -> None:
        """Store the response of the call that claimed the id (same transaction as its work)."""
        await session.execute(
            sa.update(self.table)
            .where(self.table.c.operation == operation, self.table.c.request_id == request_id)
            .values(response=response)
        )
