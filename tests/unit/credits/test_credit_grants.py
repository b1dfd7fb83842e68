"""Grant rules: creation (C-1), states (C-2), update, expire and void (C-3), the limit (C-4)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from credits_service.domain.grants import (
    MAX_UNUSED_GRANTS_PER_CUSTOMER,
    Applicability,
    GrantCategory,
    GrantState,
    due_expiry,
    ensure_grant_limit,
    expire_grant,
    grant_state,
    is_unused,
    update_grant,
    validate_new_grant,
    void_grant,
)
from credits_service.domain.ledger import LedgerTotals, Posting, TransactionKind, check_invariant
from credits_service.domain.limits import MAX_CUSTOMER_CREDIT_MINOR, MAX_GRANT_AMOUNT_MINOR
from drawdown.errors import FailedPrecondition, InvalidArgument
from tests.unit.credits.credit_builders import (
    AS_OF,
    CUSTOMER,
    INPUT_TOKENS,
    PERIOD_START,
    grant,
    granted,
    usd,
)

NOW = PERIOD_START
LATER = NOW + timedelta(days=30)


def new_grant(**overrides):
    request = dict(
        grant_id="cg_1",
        customer_id=CUSTOMER,
        currency="USD",
        amount_minor=1000,
        name="Prepaid credits",
        applicability=Applicability.every_metered_price(),
        now=NOW,
    )
    return validate_new_grant(**{**request, **overrides})


def refusal(**overrides) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        new_grant(**overrides)
    return caught.value


class TestNewGrant:
    """C-1."""

    def test_defaults(self):
        created = new_grant()
        assert created.amount == usd(1000)
        assert created.category is GrantCategory.PAID
        assert created.priority == 50
        assert created.effective_at == NOW
        assert created.expires_at is None
        assert created.voided_at is None
        assert created.created_at == created.updated_at == NOW
        assert dict(created.metadata) == {}

    def test_everything_set(self):
        created = new_grant(
            category=GrantCategory.PROMOTIONAL,
            priority=0,
            applicability=Applicability.only_prices(INPUT_TOKENS),
            effective_at=LATER,
            expires_at=LATER + timedelta(days=1),
            metadata={"campaign": "launch"},
        )
        assert (created.category, created.priority, created.effective_at) == (
            GrantCategory.PROMOTIONAL,
            0,
            LATER,
        )
        assert created.applicability.price_ids == (INPUT_TOKENS,)
        assert created.metadata == {"campaign": "launch"}

    def test_naive_times_are_refused(self):
        with pytest.raises(ValueError):
            new_grant(effective_at=datetime(2025, 1, 1))

    @pytest.mark.parametrize("amount_minor", [0, -1, True])
    def test_amount_must_be_positive(self, amount_minor):
        error = refusal(amount_minor=amount_minor)
        assert (error.reason, error.field_violations[0].field) == (
            "INVALID_AMOUNT",
            "credit_grant.amount.units",
        )

    @pytest.mark.parametrize("amount_minor", [MAX_GRANT_AMOUNT_MINOR + 1, 2**63 - 1, 2**63])
    def test_x5_amount_beyond_the_grant_bound_is_too_large(self, amount_minor):
        error = refusal(amount_minor=amount_minor)
        assert (error.reason, error.field_violations[0].field) == (
            "AMOUNT_TOO_LARGE",
            "credit_grant.amount.units",
        )

    def test_x5_the_bound_leaves_room_for_every_sum_in_64_bits(self):
        assert MAX_UNUSED_GRANTS_PER_CUSTOMER * MAX_GRANT_AMOUNT_MINOR <= MAX_CUSTOMER_CREDIT_MINOR
        assert MAX_CUSTOMER_CREDIT_MINOR * 9 < 2**63 - 1

    def test_largest_amount_is_accepted(self):
        assert new_grant(amount_minor=MAX_GRANT_AMOUNT_MINOR).amount.minor == MAX_GRANT_AMOUNT_MINOR

    @pytest.mark.parametrize("currency", ["usd", "XXX", ""])
    def test_currency_must_be_iso_4217(self, currency):
        error = refusal(currency=currency)
        assert (error.reason, error.field_violations[0].field) == (
            "INVALID_CURRENCY",
            "credit_grant.amount.currency_code",
        )

    @pytest.mark.parametrize("priority", [-1, 101])
    def test_priority_outside_0_to_100_is_refused(self, priority):
        assert refusal(priority=priority).reason == "INVALID_PRIORITY"

    @pytest.mark.parametrize("priority", [0, 100])
    def test_priority_bounds_are_accepted(self, priority):
        assert new_grant(priority=priority).priority == priority

    @pytest.mark.parametrize(
        "applicability",
        [
            Applicability(),
            Applicability(all_metered_prices=True, price_ids=(INPUT_TOKENS,)),
            Applicability.only_prices(*(f"price_{n}" for n in range(21))),
            Applicability.only_prices(INPUT_TOKENS, INPUT_TOKENS),
            Applicability.only_prices(""),
        ],
        ids=["neither", "both", "21 prices", "repeated price", "blank price"],
    )
    def test_applicability_must_be_one_scope_of_at_most_20_prices(self, applicability):
        assert refusal(applicability=applicability).reason == "INVALID_APPLICABILITY"

    def test_twenty_prices_are_accepted(self):
        prices = tuple(f"price_{n}" for n in range(20))
        assert new_grant(applicability=Applicability.only_prices(*prices)).applicability.price_ids == prices

    @pytest.mark.parametrize("expires_at", [NOW, NOW - timedelta(seconds=1)])
    def test_expiry_must_follow_effective_at(self, expires_at):
        error = refusal(expires_at=expires_at)
        assert (error.reason, error.field_violations[0].field) == (
            "INVALID_EXPIRY",
            "credit_grant.expire_time",
        )

    def test_expiry_is_compared_with_an_explicit_effective_at(self):
        assert refusal(effective_at=LATER, expires_at=LATER - timedelta(days=1)).reason == "INVALID_EXPIRY"

    def test_name_of_100_characters_is_accepted(self):
        assert new_grant(name="x" * 100).name == "x" * 100

    def test_name_over_100_characters_is_refused(self):
        error = refusal(name="x" * 101)
        assert (error.reason, error.field_violations[0].field) == ("NAME_TOO_LONG", "credit_grant.name")

    def test_customer_is_required(self):
        assert refusal(customer_id="").reason == "CUSTOMER_ID_REQUIRED"

    def test_metadata_is_a_frozen_copy(self):
        metadata = {"campaign": "launch"}
        created = new_grant(metadata=metadata)
        metadata["campaign"] = "changed"
        assert created.metadata == {"campaign": "launch"}
        with pytest.raises(TypeError):
            created.metadata["campaign"] = "changed"


class TestGrantState:
    """C-2."""

    def test_pending_before_effective_at(self):
        assert (
            grant_state(grant(effective_at=AS_OF + timedelta(seconds=1)), usd(1000), AS_OF)
            is GrantState.PENDING
        )

    def test_available_from_effective_at(self):
        assert grant_state(grant(effective_at=AS_OF), usd(1000), AS_OF) is GrantState.AVAILABLE

    def test_depleted_when_the_ledger_is_empty(self):
        assert grant_state(grant(), usd(0), AS_OF) is GrantState.DEPLETED

    def test_expired_from_expires_at(self):
        assert grant_state(grant(expires_at=AS_OF), usd(1000), AS_OF) is GrantState.EXPIRED

    def test_not_expired_just_before(self):
        assert (
            grant_state(grant(expires_at=AS_OF + timedelta(microseconds=1)), usd(1), AS_OF)
            is GrantState.AVAILABLE
        )

    def test_expiry_outranks_depletion(self):
        assert grant_state(grant(expires_at=AS_OF), usd(0), AS_OF) is GrantState.EXPIRED

    def test_voided_outranks_everything(self):
        voided = grant(expires_at=AS_OF, voided_at=PERIOD_START)
        assert grant_state(voided, usd(0), AS_OF) is GrantState.VOIDED


class TestUpdate:
    """C-3: only expire_time and metadata change."""

    def test_expires_at_moves(self):
        updated = update_grant(
            grant(), ["expire_time"], ledger_balance=usd(1000), expires_at=LATER, as_of=AS_OF
        )
        assert (updated.expires_at, updated.updated_at) == (LATER, AS_OF)

    def test_expires_at_clears(self):
        updated = update_grant(grant(expires_at=LATER), ["expire_time"], ledger_balance=usd(1000), as_of=NOW)
        assert updated.expires_at is None

    def test_metadata_is_replaced_whole(self):
        original = grant(metadata={"a": "1", "b": "2"})
        updated = update_grant(
            original, ["metadata"], ledger_balance=usd(1000), metadata={"a": "9"}, as_of=AS_OF
        )
        assert updated.metadata == {"a": "9"}

    def test_fields_outside_the_mask_stay(self):
        original = grant(expires_at=LATER, metadata={"a": "1"})
        updated = update_grant(
            original, ["metadata"], ledger_balance=usd(1000), metadata={"b": "2"}, as_of=AS_OF
        )
        assert updated.expires_at == LATER

    def test_empty_mask_changes_nothing(self):
        original = grant()
        assert update_grant(original, [], ledger_balance=usd(1000), as_of=AS_OF) is original

    @pytest.mark.parametrize(
        "field",
        [
            "amount",
            "name",
            "category",
            "priority",
            "applicability_config",
            "effective_time",
            "customer_id",
            "void_time",
        ],
    )
    def test_other_fields_are_immutable(self, field):
        with pytest.raises(InvalidArgument) as caught:
            update_grant(grant(), [field, "metadata"], ledger_balance=usd(1000), as_of=AS_OF)
        assert caught.value.reason == "IMMUTABLE_FIELD"
        assert caught.value.field_violations[0].field == f"credit_grant.{field}"

    @pytest.mark.parametrize("expires_at", [PERIOD_START, PERIOD_START - timedelta(days=1)])
    def test_expiry_not_after_effective_at_is_refused(self, expires_at):
        with pytest.raises(InvalidArgument) as caught:
            update_grant(
                grant(), ["expire_time"], ledger_balance=usd(1000), expires_at=expires_at, as_of=AS_OF
            )
        assert caught.value.reason == "INVALID_EXPIRY"

    def test_expiry_of_an_expired_grant_is_final(self):
        with pytest.raises(FailedPrecondition) as caught:
            update_grant(grant(expires_at=AS_OF), ["expire_time"], ledger_balance=usd(0), as_of=AS_OF)
        assert caught.value.reason == "GRANT_EXPIRED"

    def test_expiry_of_a_voided_grant_is_final(self):
        voided = grant(voided_at=PERIOD_START)
        with pytest.raises(FailedPrecondition) as caught:
            update_grant(voided, ["expire_time"], ledger_balance=usd(0), expires_at=LATER, as_of=AS_OF)
        assert caught.value.reason == "GRANT_VOIDED"

    def test_metadata_of_an_ended_grant_stays_editable(self):
        voided = grant(voided_at=PERIOD_START)
        updated = update_grant(
            voided, ["metadata"], ledger_balance=usd(0), metadata={"note": "x"}, as_of=AS_OF
        )
        assert updated.metadata == {"note": "x"}


class TestExpire:
    """C-3: expire ends the remaining balance now."""

    def test_remaining_ledger_balance_is_debited(self):
        expired, debit = expire_grant(grant(), usd(400), AS_OF)
        assert expired.expires_at == AS_OF
        assert debit == Posting(
            grant_id="cg_1", kind=TransactionKind.CREDITS_EXPIRED, amount=usd(400), effective_at=AS_OF
        )
        assert grant_state(expired, usd(0), AS_OF) is GrantState.EXPIRED

    def test_a_depleted_grant_expires_without_a_debit(self):
        expired, debit = expire_grant(grant(), usd(0), AS_OF)
        assert (expired.expires_at, debit) == (AS_OF, None)

    def test_an_expired_grant_cannot_expire_again(self):
        with pytest.raises(FailedPrecondition) as caught:
            expire_grant(grant(expires_at=AS_OF), usd(0), AS_OF)
        assert caught.value.reason == "GRANT_EXPIRED"

    def test_a_voided_grant_cannot_expire(self):
        with pytest.raises(FailedPrecondition) as caught:
            expire_grant(grant(voided_at=PERIOD_START), usd(0), AS_OF)
        assert caught.value.reason == "GRANT_VOIDED"

    def test_a_pending_grant_can_expire_and_never_becomes_usable(self):
        pending = grant(effective_at=LATER + timedelta(days=60))
        expired, debit = expire_grant(pending, usd(1000), AS_OF)
        assert debit is not None and debit.amount == usd(1000)
        assert grant_state(expired, usd(0), LATER + timedelta(days=61)) is GrantState.EXPIRED


class TestDueExpiry:
    """C-3, C-20: the sweep posts the remaining balance of grants past expires_at."""

    def test_nothing_due_before_expiry(self):
        assert due_expiry(grant(expires_at=AS_OF + timedelta(seconds=1)), usd(1000), AS_OF) is None

    def test_remaining_balance_expires_dated_at_expires_at(self):
        expiry = PERIOD_START + timedelta(days=3)
        debit = due_expiry(grant(expires_at=expiry), usd(700), AS_OF)
        assert debit == Posting(
            grant_id="cg_1", kind=TransactionKind.CREDITS_EXPIRED, amount=usd(700), effective_at=expiry
        )

    def test_nothing_due_once_posted(self):
        assert due_expiry(grant(expires_at=AS_OF), usd(0), AS_OF) is None

    def test_nothing_due_for_a_voided_grant(self):
        assert due_expiry(grant(expires_at=AS_OF, voided_at=PERIOD_START), usd(0), AS_OF) is None


class TestVoid:
    """C-3: void only what was never applied; debit the whole amount."""

    def test_void_debits_the_whole_amount(self):
        original = grant()
        postings = [granted(original)]
        voided, debit = void_grant(original, LedgerTotals.of("USD", postings), AS_OF)
        assert voided.voided_at == AS_OF
        assert debit == Posting(
            grant_id="cg_1", kind=TransactionKind.CREDITS_VOIDED, amount=usd(1000), effective_at=AS_OF
        )
        assert check_invariant(original.amount, [*postings, debit]) == ()
        assert grant_state(voided, usd(0), AS_OF) is GrantState.VOIDED

    def test_a_pending_grant_can_be_voided(self):
        pending = grant(effective_at=AS_OF + timedelta(days=1))
        voided, _ = void_grant(pending, LedgerTotals.of("USD", [granted(pending)]), AS_OF)
        assert voided.voided_at == AS_OF

    def test_applied_credits_forbid_voiding_even_once_reinstated(self):
        original = grant()
        postings = [
            granted(original),
            Posting(
                grant_id="cg_1", kind=TransactionKind.CREDITS_APPLIED, amount=usd(100), effective_at=AS_OF
            ),
            Posting(
                grant_id="cg_1",
                kind=TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED,
                amount=usd(100),
                effective_at=AS_OF,
            ),
        ]
        with pytest.raises(FailedPrecondition) as caught:
            void_grant(original, LedgerTotals.of("USD", postings), AS_OF)
        assert caught.value.reason == "GRANT_ALREADY_APPLIED"

    def test_a_voided_grant_cannot_be_voided_again(self):
        voided = grant(voided_at=PERIOD_START)
        with pytest.raises(FailedPrecondition) as caught:
            void_grant(voided, LedgerTotals.of("USD", [granted(voided)]), AS_OF)
        assert caught.value.reason == "GRANT_VOIDED"

    def test_an_expired_grant_cannot_be_voided(self):
        expired = grant(expires_at=AS_OF)
        with pytest.raises(FailedPrecondition) as caught:
            void_grant(expired, LedgerTotals.of("USD", [granted(expired)]), AS_OF)
        assert caught.value.reason == "GRANT_EXPIRED"


class TestUnusedGrantLimit:
    """C-4: at most 100 unused grants per customer."""

    def test_pending_grants_are_unused(self):
        assert is_unused(grant(effective_at=AS_OF + timedelta(days=1)), usd(1000), AS_OF)

    def test_grants_with_a_ledger_balance_are_unused(self):
        assert is_unused(grant(), usd(1), AS_OF)

    def test_depleted_grants_are_used(self):
        assert not is_unused(grant(), usd(0), AS_OF)

    def test_expired_grants_are_not_unused_even_before_the_sweep(self):
        assert not is_unused(grant(expires_at=AS_OF), usd(1000), AS_OF)

    def test_voided_grants_are_not_unused(self):
        assert not is_unused(grant(voided_at=PERIOD_START), usd(0), AS_OF)

    def test_the_100th_grant_is_accepted(self):
        ensure_grant_limit(MAX_UNUSED_GRANTS_PER_CUSTOMER - 1)

    def test_the_101st_grant_is_refused(self):
        with pytest.raises(FailedPrecondition) as caught:
            ensure_grant_limit(MAX_UNUSED_GRANTS_PER_CUSTOMER)
        assert caught.value.reason == "GRANT_LIMIT_REACHED"
