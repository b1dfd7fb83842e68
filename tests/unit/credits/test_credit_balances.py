"""The balance summary's price scope (C-21): which grants a scoped summary selects; and
which grants a draw depletes (C-2)."""

from __future__ import annotations

from credits_service.domain.balances import GrantBalances, depleted_by, summary_price_filter
from credits_service.domain.grants import Applicability
from tests.unit.credits.credit_builders import INPUT_TOKENS, OUTPUT_TOKENS, grant, usd


class TestSummaryPriceFilter:
    def test_the_metered_scope_selects_every_grant(self):
        assert summary_price_filter(Applicability.every_metered_price()) is None

    def test_a_price_list_selects_by_its_prices(self):
        scope = Applicability.only_prices(INPUT_TOKENS, OUTPUT_TOKENS)
        assert summary_price_filter(scope) == (INPUT_TOKENS, OUTPUT_TOKENS)


class TestDepletedBy:
    def test_a_draw_of_the_whole_ledger_balance_depletes_the_grant(self):
        emptied = GrantBalances(grant("cg_1"), ledger=usd(400), held=usd(100))
        kept = GrantBalances(grant("cg_2"), ledger=usd(1000), held=usd(0))
        assert depleted_by([emptied, kept], {"cg_1": usd(400), "cg_2": usd(300)}) == [
            GrantBalances(grant("cg_1"), ledger=usd(0), held=usd(100))
        ]

    def test_grants_the_draw_does_not_touch_are_not_depleted_by_it(self):
        already_empty = GrantBalances(grant("cg_1"), ledger=usd(0), held=usd(0))
        assert depleted_by([already_empty], {}) == []
