"""A grant's balances, and the per-currency summary of a customer's grants (C-20, C-21).

The summary is summed in SQL (``BalanceRepository.summary``), over the same rule as
``GrantBalances.available``; the store's property test holds the two equal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from credits_service.domain.grants import Applicability, CreditGrant
from credits_service.domain.ledger import available_balance
from drawdown.money import Money


@dataclass(frozen=True)
class GrantBalances:
    """A grant with its ledger balance and what draft invoices hold on it."""

    grant: CreditGrant
    ledger: Money
    held: Money

    def available(self, as_of: datetime) -> Money:
        """C-20: ledger minus holds; zero while pending and once expired (posted or not)."""
        return available_balance(
            ledger=self.ledger,
            held=self.held,
            effective_at=self.grant.effective_at,
            expires_at=self.grant.expires_at,
            as_of=as_of,
        )


@dataclass(frozen=True)
class CurrencyBalance:
    """C-21: the available and ledger balance of the selected grants in one currency."""

    available: Money
    ledger: Money


def summary_price_filter(scope: Applicability) -> tuple[str, ...] | None:
    """C-21: the prices a summary scoped to ``scope`` selects grants by (those scoped to
    every metered price, and those listing any of them); None, every grant, for the
    metered scope, since every grant pays metered prices only."""
    return None if scope.all_metered_prices else scope.price_ids
