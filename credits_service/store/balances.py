"""The balance summary (C-21): a customer's available and ledger balance per currency.

The hot read: one constant statement, summed in SQL, on a raw pooled connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from credits_service.domain.balances import CurrencyBalance
from credits_service.store.schema import credit_grants as G
from credits_service.store.schema import credit_holds as H
from credits_service.store.schema import test_clocks
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch
from drawdown.money import Money

# C-20, C-21 over the cached ledger balances and the holds, summed per currency in one
# statement. Available is the ledger minus holds, never negative, and zero while pending
# or once expired (``available_balance``'s rule, which a property test holds this to); a
# voided grant's ledger is zero.
# The moment is the request's ``as_of``, else the customer's test clock time, else now
# (I-18), computed once (MATERIALIZED: not inlined into each use); COALESCE stops at the
# first that is set, so with an ``as_of`` the clock is not looked up. Sums of BIGINT are
# NUMERIC in PostgreSQL: they cannot overflow. ``granted`` (the amounts of the grants
# effective and not voided, R-7's percent of granted) rides along for the spendable balance.
_SUMMARY = f"""
    WITH t AS MATERIALIZED (
        SELECT coalesce(%(as_of)s::timestamptz, {test_clocks.clock_time_sql("%(customer_id)s")},
                        %(now)s::timestamptz) AS as_of
    )
    SELECT g.currency,
           sum(CASE WHEN g.effective_at <= t.as_of AND (g.expires_at IS NULL OR g.expires_at > t.as_of)
                    THEN greatest(g.balance_minor - coalesce(h.held, 0), 0) ELSE 0 END) AS available,
           sum(g.balance_minor) AS ledger,
           sum(CASE WHEN g.voided_at IS NULL AND g.effective_at <= t.as_of
                    THEN g.amount_minor ELSE 0 END) AS granted
      FROM t CROSS JOIN {G.fullname} AS g
      LEFT JOIN LATERAL (SELECT sum(amount_minor) AS held FROM {H.fullname}
                          WHERE grant_id = g.id AND customer_id = g.customer_id) AS h ON true
     WHERE g.customer_id = %(customer_id)s {{selection}}
     GROUP BY g.currency"""
# C-21's filters: one grant; or a price scope, which every grant scoped to all metered
# prices is in, and every grant listing any of the prices.
SUMMARY_OF_ALL = _SUMMARY.format(selection="")
_SUMMARY_OF_GRANT = _SUMMARY.format(selection="AND g.id = %(grant_id)s")
_SUMMARY_OF_SCOPE = _SUMMARY.format(
    selection="AND (g.all_metered_prices OR g.price_ids && %(price_ids)s::text[])"
)


class BalanceRepository(Repository):
    """The balance summary; runs in a unit of work or on a raw pooled connection."""

    __slots__ = ()

    async def summary(
        self,
        customer_id: str,
        as_of: datetime | None,
        now: datetime,
        *,
        grant_id: str = "",
        price_ids: Sequence[str] | None = None,
    ) -> list[CurrencyBalance]:
        """C-21: available and ledger balance per currency (by code, zeros included) over
        the customer's grants: all, the one ``grant_id``, or those in ``price_ids``' scope;
        at ``as_of``, else at the customer's test clock time, else at ``now`` (I-18)."""
        if grant_id:
            statement = _SUMMARY_OF_GRANT
        elif price_ids is not None:
            statement = _SUMMARY_OF_SCOPE
        else:
            statement = SUMMARY_OF_ALL
        params = {
            "customer_id": customer_id,
            "as_of": as_of,
            "now": now,
            "grant_id": grant_id,
            "price_ids": None if price_ids is None else list(price_ids),
        }
        return summary_of(await _fetch(self._db, statement, params))


def summary_of(rows: list) -> list[CurrencyBalance]:
    """The summary statement's rows as balances, by currency code."""
    return [
        CurrencyBalance(Money(row.currency, int(row.available)), Money(row.currency, int(row.ledger)))
        for row in sorted(rows, key=lambda row: row.currency)
    ]
