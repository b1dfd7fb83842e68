"""The credits repository: one store over the credits schema, composed of its aggregates' stores.

Each module owns one part of the schema and its SQL: ``customers`` (the lock every money
movement takes first, and test clocks), ``grants`` (grant rows and states),
``balances`` (the balance summary), ``ledger`` (postings and transactions), ``holds``
(holds and invoice applications) and ``draws`` (what a hold, an application or a preview
reads, in one round trip). ``sql`` has what they share. Every method runs in the
caller's transaction.
"""

from __future__ import annotations

from credits_service.store.balances import BalanceStore
from credits_service.store.draws import DrawStore
from credits_service.store.grants import GrantStore
from credits_service.store.holds import HoldStore
from credits_service.store.ledger import LedgerStore


class CreditStore(DrawStore, GrantStore, BalanceStore, LedgerStore, HoldStore):
    """SQL for the credits schema; ``DrawStore`` brings the customers' (``CustomerStore``)."""
