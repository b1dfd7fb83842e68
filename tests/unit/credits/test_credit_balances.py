"""The balance summary's price scope (C-21): which grants a scoped summary selects."""

from __future__ import annotations

from credits_service.domain.balances import summary_price_filter
from credits_service.domain.grants import Applicability
from tests.unit.credits.credit_builders import INPUT_TOKENS, OUTPUT_TOKENS


class TestSummaryPriceFilter:
    def test_the_metered_scope_selects_every_grant(self):
        assert summary_price_filter(Applicability.every_metered_price()) is None

    def test_a_price_list_selects_by_its_prices(self):
        scope = Applicability.only_prices(INPUT_TOKENS, OUTPUT_TOKENS)
        assert summary_price_filter(scope) == (INPUT_TOKENS, OUTPUT_TOKENS)
