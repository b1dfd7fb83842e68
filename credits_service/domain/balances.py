"""A grant's balances, and the per-currency summary of a customer's grants (C-20, C-21).

The summary is summed in SQL (``BalanceRepository.summary``), over the same rule as
``GrantBalances.available``; the store's property test holds the two equal."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
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


def depleted_by(grants: Iterable[GrantBalances], drawn: Mapping[str, Money]) -> list[GrantBalances]:
    """C-2: the grants that a draw of ``drawn`` (grant id → amount posted) leaves with
    nothing on the ledger, so DEPLETED from then on, as they are after it. Their holds are
    the other invoices' (the drawing invoice's own hold ends with the draw, C-13)."""
    return [
        dataclasses.replace(balances, ledger=balances.ledger - drawn[balances.grant.id])
        for balances in grants
        if balances.grant.id in drawn and balances.ledger == drawn[balances.grant.id]
    ]


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
