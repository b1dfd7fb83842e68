"""Balance summaries: a customer's grants summed per currency (SPEC C-20, C-21)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from credits_service.domain.grants import CreditGrant
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


def in_scope(grant: CreditGrant, price_ids: Iterable[str] | None) -> bool:
    """C-21's scope filter: with no price list every grant (all pay metered prices only);
    with one, grants scoped to all metered prices and those listing any of the prices."""
    if price_ids is None:
        return True
    return grant.applicability.all_metered_prices or bool(set(price_ids) & set(grant.applicability.price_ids))


def summarize(grants: Iterable[GrantBalances], as_of: datetime) -> list[CurrencyBalance]:
    """C-21: one entry per currency of the given grants (zero balances included), by code."""
    sums: dict[str, CurrencyBalance] = {}
    for balances in grants:
        currency = balances.grant.amount.currency
        so_far = sums.get(currency, CurrencyBalance(Money.zero(currency), Money.zero(currency)))
        sums[currency] = CurrencyBalance(
            so_far.available + balances.available(as_of), so_far.ledger + balances.ledger
        )
    return [sums[currency] for currency in sorted(sums)]
