"""The request_id idempotency store (X-1).

Every mutating RPC may carry a request id. The first call claims ``(operation,
request_id)`` inside its own transaction and stores its response there; a retry with the
same id and the same request gets that response back; the same id with a different
request is ALREADY_EXISTS (``REQUEST_ID_REUSED``). Two concurrent calls with one id
serialize on the primary key: the second waits for the first to commit, then replays.

Each service keeps the table in its own schema (see :func:`idempotency_table`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from drawdown import reasons
from drawdown.db.engine import Database, Transaction, fetch, send
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
    """The ``idempotency_keys`` table for a service's schema (declared in its metadata),
    indexed by age for pruning (O-6)."""
    table = sa.Table("idempotency_keys", metadata, *idempotency_columns())
    sa.Index("idempotency_keys_by_age", table.c.created_at)
    return table


def fingerprint(request_bytes: bytes) -> bytes:
    """A digest of the request (serialized without its request id)."""
    return hashlib.sha256(request_bytes).digest()


def validate_request_id(request_id: str, field: str = "request_id") -> None:
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidArgument.for_field(
            field, f"must be at most {MAX_REQUEST_ID_LENGTH} characters", reason=reasons.REQUEST_ID_TOO_LONG
        )


class Claimed(Exception):
    """The request id claimed ahead (``claim_ahead``) was taken by an earlier call."""


def _claimed_unless_inserted(rows: list[Any]) -> None:
    if not rows:
        raise Claimed


@dataclass(frozen=True)
class BatchClaim:
    """What claiming one entry of a batch found: the id is ours (``replay`` and
    ``reused`` None), or an earlier call's ``replay``, or ``reused`` for another request."""

    replay: bytes | None = None
    reused: AlreadyExists | None = None


def request_id_reused(operation: str, request_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"request_id {request_id!r} was already used for a different {operation} request",
        reason=reasons.REQUEST_ID_REUSED,
        metadata={"request_id": request_id, "operation": operation},
    )


class IdempotencyStore:
    """Claims and replays request ids in one service's table.

    Constant SQL on the psycopg connection of the caller's transaction (a unit of work's
    session, or a raw ``Transaction``), prepared by the driver after a few uses: every
    mutation of every service runs it.
    """

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        name = table.fullname
        self._claim = (
            f"INSERT INTO {name} (operation, request_id, fingerprint, created_at) "
            "VALUES (%(operation)s, %(request_id)s, %(fingerprint)s, %(now)s) "
            "ON CONFLICT DO NOTHING RETURNING request_id"
        )
        self._claimed = (
            f"SELECT request_id, fingerprint, response FROM {name} "
            "WHERE operation = %(operation)s AND request_id = ANY(%(request_ids)s::text[])"
        )
        self._complete = (
            f"UPDATE {name} SET response = %(response)s "
            "WHERE operation = %(operation)s AND request_id = %(request_id)s"
        )
        # Many ids in one statement, inserted in the order given (sorted by the caller, so
        # that two batches sharing ids wait on each other instead of deadlocking).
        self._claim_many = f"""
            INSERT INTO {name} (operation, request_id, fingerprint, created_at)
            SELECT %(operation)s, c.request_id, c.fingerprint, %(now)s
              FROM unnest(%(request_ids)s::text[], %(fingerprints)s::bytea[])
                   WITH ORDINALITY AS c(request_id, fingerprint, n)
             ORDER BY c.n
            ON CONFLICT DO NOTHING RETURNING request_id"""
        self._prune = f"""
            WITH pruned AS (
                DELETE FROM {name} WHERE ctid IN (
                    SELECT ctid FROM {name}
                     WHERE created_at < %(before)s AND NOT (operation = ANY(%(keep)s::text[]))
                     LIMIT %(batch)s)
                RETURNING 1)
            SELECT count(*) AS deleted FROM pruned"""
        self._complete_many = f"""
            UPDATE {name} AS k SET response = c.response
              FROM unnest(%(request_ids)s::text[], %(responses)s::bytea[]) AS c(request_id, response)
             WHERE k.operation = %(operation)s AND k.request_id = c.request_id"""

    async def prune(
        self, database: Database, before: datetime, *, keep: Collection[str] = (), batch: int = 10_000
    ) -> int:
        """Forget the request ids claimed before ``before``, but those of the operations in
        ``keep`` (money movements, kept with the ledger), in batches of ``batch``, each its
        own short transaction; how many were forgotten. A retry after that is a new request."""
        deleted = 0
        while True:
            async with database.transaction() as tx:
                (row,) = await tx.fetch(self._prune, {"before": before, "keep": list(keep), "batch": batch})
                await tx.commit()
            deleted += row.deleted
            if row.deleted < batch:
                return deleted

    async def claim(
        self,
        session: AsyncSession | Transaction,
        operation: str,
        request_id: str,
        request_fingerprint: bytes,
        now: datetime,
    ) -> bytes | None:
        """Claim the id for this transaction, or return the response stored by an earlier call.

        Returns None when the caller should do the work (and then :meth:`complete`).
        """
        validate_request_id(request_id)
        db = await _connection(session)
        params = {
            "operation": operation,
            "request_id": request_id,
            "fingerprint": request_fingerprint,
            "now": now,
        }
        if await fetch(db, self._claim, params):
            return None
        [row] = await fetch(db, self._claimed, {"operation": operation, "request_ids": [request_id]})
        if row.fingerprint != request_fingerprint:
            raise request_id_reused(operation, request_id)
        return row.response

    def claim_ahead(
        self, tx: Transaction, operation: str, request_id: str, request_fingerprint: bytes, now: datetime
    ) -> None:
        """:meth:`claim` without a round trip of its own: the claim travels with the
        transaction's first statements, and that round trip raises ``Claimed`` when the id
        was taken (then :meth:`replay`). The work's first statements run either way, so
        they must be harmless to roll back (reads, locks)."""
        validate_request_id(request_id)
        params = {
            "operation": operation,
            "request_id": request_id,
            "fingerprint": request_fingerprint,
            "now": now,
        }
        tx.queue(self._claim, params, _claimed_unless_inserted)

    async def replay(
        self, tx: Transaction, operation: str, request_id: str, request_fingerprint: bytes
    ) -> bytes:
        """After ``Claimed``: the stored response, or REQUEST_ID_REUSED for another request."""
        [row] = await fetch(tx, self._claimed, {"operation": operation, "request_ids": [request_id]})
        if row.fingerprint != request_fingerprint:
            raise request_id_reused(operation, request_id)
        return row.response

    async def complete(
        self, session: AsyncSession | Transaction, operation: str, request_id: str, response: bytes
    ) -> None:
        """Store the response of the call that claimed the id (same transaction as its work)."""
        params = {"operation": operation, "request_id": request_id, "response": response}
        await send(await _connection(session), self._complete, params)

    async def claim_many(
        self,
        session: AsyncSession | Transaction,
        operation: str,
        entries: Mapping[str, bytes],
        now: datetime,
    ) -> dict[str, BatchClaim]:
        """:meth:`claim` for many ids (``request_id → fingerprint``) in one statement:
        for each id, whether it is now ours, replays or was used for another request."""
        for request_id in entries:
            validate_request_id(request_id)
        ordered = sorted(entries)
        db = await _connection(session)
        params = {
            "operation": operation,
            "request_ids": ordered,
            "fingerprints": [entries[request_id] for request_id in ordered],
            "now": now,
        }
        ours = {row.request_id for row in await fetch(db, self._claim_many, params)}
        claims = {request_id: BatchClaim() for request_id in ours}
        taken = [request_id for request_id in ordered if request_id not in ours]
        if taken:
            params = {"operation": operation, "request_ids": taken}
            for row in await fetch(db, self._claimed, params):
                claims[row.request_id] = (
                    BatchClaim(replay=row.response)
                    if row.fingerprint == entries[row.request_id]
                    else BatchClaim(reused=request_id_reused(operation, row.request_id))
                )
        return claims

    async def complete_many(
        self, session: AsyncSession | Transaction, operation: str, responses: Mapping[str, bytes]
    ) -> None:
        """:meth:`complete` for many ids claimed in this transaction, in one statement."""
        if not responses:
            return
        params = {
            "operation": operation,
            "request_ids": list(responses),
            "responses": list(responses.values()),
        }
        await send(await _connection(session), self._complete_many, params)


async def _connection(session: AsyncSession | Transaction) -> AsyncConnection | Transaction:
    """Where to send the SQL: the raw transaction itself, or the session's connection."""
    return session if isinstance(session, Transaction) else await session.connection()
