"""Invoicing protos ⇄ records and domain objects. Field paths in errors follow the proto."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

from drawdown.errors import InvalidArgument
from drawdown.events.outbox import encoder
from drawdown.invoicing.v1 import (
    billing_error_pb2,
    customer_pb2,
    invoice_pb2,
    price_pb2,
    product_pb2,
    subscription_pb2,
    test_clock_pb2,
)
from drawdown.money import Money, validate_currency
from drawdown.rpc.convert import (
    decimal_from_proto,
    decimal_to_proto,
    duration_from_proto,
    duration_to_proto,
    money_from_proto,
    money_to_proto,
    timestamp_to_proto,
)
from drawdown.rpc.enums import EnumMap
from invoicing_service.api.authorizations import authorization_to_proto
from invoicing_service.api.webhooks import endpoint_to_proto
from invoicing_service.domain import reasons
from invoicing_service.domain.authorizations import UsageAuthorization
from invoicing_service.domain.balance_watches import AutoTopUp, BalanceAlert, Collection, ThresholdCrossed
from invoicing_service.domain.invoices import (
    BillingReason,
    InvoiceState,
    InvoiceStatus,
    LineKind,
    invoice_payment,
    invoice_total,
)
from invoicing_service.domain.periods import Interval
from invoicing_service.domain.prices import (
    BillingScheme,
    Price,
    Rounding,
    Tier,
    TiersMode,
    TransformQuantity,
    UsageType,
)
from invoicing_service.domain.subscriptions import SubscriptionStatus
from invoicing_service.domain.test_clocks import TestClockStatus
from invoicing_service.domain.webhooks import WebhookEndpoint
from invoicing_service.service.customers import NewCustomer
from invoicing_service.service.spending import LiveBalance
from invoicing_service.service.subscriptions import NewItem
from invoicing_service.store.records import (
    BillingErrorRecord,
    CustomerRecord,
    InvoiceRecord,
    PriceRecord,
    ProductRecord,
    SubscriptionRecord,
    TestClockRecord,
)

USAGE_TYPES = EnumMap(price_pb2.PriceType, UsageType)
_INTERVALS = EnumMap(price_pb2.RecurringInterval, Interval)
_SCHEMES = EnumMap(price_pb2.BillingScheme, BillingScheme)
_TIERS_MODES = EnumMap(price_pb2.TiersMode, TiersMode)
_ROUNDINGS = EnumMap(price_pb2.TransformQuantityRound, Rounding)
_CLOCK_STATUSES = EnumMap(test_clock_pb2.TestClockStatus, TestClockStatus)
INVOICE_STATUSES = EnumMap(invoice_pb2.InvoiceStatus, InvoiceStatus)
_BILLING_REASONS = EnumMap(invoice_pb2.BillingReason, BillingReason)
_LINE_TYPES = EnumMap(invoice_pb2.InvoiceLineType, LineKind)
SUBSCRIPTION_STATUSES = EnumMap(subscription_pb2.SubscriptionStatus, SubscriptionStatus)


def billing_error_to_proto(error: BillingErrorRecord | None) -> billing_error_pb2.BillingError | None:
    if error is None:
        return None
    return billing_error_pb2.BillingError(
        reason=error.reason, message=error.message, time=timestamp_to_proto(error.time)
    )


# -- test clocks, customers, products ----------------------------------------------


def test_clock_to_proto(clock: TestClockRecord) -> test_clock_pb2.TestClock:
    return test_clock_pb2.TestClock(
        id=clock.id,
        name=clock.name,
        frozen_time=timestamp_to_proto(clock.frozen_time),
        status=_CLOCK_STATUSES.to_proto(clock.status),  # type: ignore[arg-type]
        create_time=timestamp_to_proto(clock.create_time),
        update_time=timestamp_to_proto(clock.update_time),
    )


def new_customer_from_proto(customer: customer_pb2.Customer) -> NewCustomer:
    settings = customer.invoice_settings
    return NewCustomer(
        name=customer.name,
        email=customer.email,
        metadata=dict(customer.metadata),
        test_clock_id=customer.test_clock_id or None,
        grace_period=duration_from_proto(settings.grace_period, "customer.invoice_settings.grace_period")
        if settings.HasField("grace_period")
        else None,
        overdraft_allowances=overdraft_allowances_from_proto(
            customer.credit_settings.overdraft_allowances, "customer.credit_settings.overdraft_allowances"
        ),
        auto_top_ups=[
            auto_top_up_from_proto(message, f"customer.credit_settings.auto_top_ups[{position}]")
            for position, message in enumerate(customer.credit_settings.auto_top_ups)
        ],
        balance_alerts=[
            balance_alert_from_proto(message, f"customer.credit_settings.balance_alerts[{position}]")
            for position, message in enumerate(customer.credit_settings.balance_alerts)
        ],
    )


_COLLECTIONS = EnumMap(customer_pb2.AutoTopUpCollection, Collection)


def _required_money(message, name: str, field: str) -> Money:
    if not message.HasField(name):
        raise InvalidArgument.for_field(f"{field}.{name}", "is required")
    return money_from_proto(getattr(message, name), f"{field}.{name}")


def auto_top_up_from_proto(message: customer_pb2.AutoTopUp, field: str) -> AutoTopUp:
    """The fields R-6 requires; the rules between them are ``validate_auto_top_ups``'."""
    size = message.WhichOneof("size")
    if size is None:
        raise InvalidArgument.for_field(f"{field}.amount", "an amount or a recharge_to is required")
    collection = _COLLECTIONS.parse(message.collection, f"{field}.collection")
    if collection is None:
        raise InvalidArgument.for_field(f"{field}.collection", "is required")
    sized = _required_money(message, size, field)
    return AutoTopUp(
        threshold=_required_money(message, "threshold", field),
        amount=sized if size == "amount" else None,
        recharge_to=sized if size == "recharge_to" else None,
        monthly_cap=_required_money(message, "monthly_cap", field),
        collection=collection,
    )


def auto_top_up_to_proto(top_up: AutoTopUp) -> customer_pb2.AutoTopUp:
    message = customer_pb2.AutoTopUp(
        threshold=money_to_proto(top_up.threshold),
        monthly_cap=money_to_proto(top_up.monthly_cap),
        collection=_COLLECTIONS.to_proto(top_up.collection),  # type: ignore[arg-type]
    )
    if top_up.amount is not None:
        message.amount.CopyFrom(money_to_proto(top_up.amount))
    if top_up.recharge_to is not None:
        message.recharge_to.CopyFrom(money_to_proto(top_up.recharge_to))
    return message


def balance_alert_from_proto(message: customer_pb2.BalanceAlert, field: str) -> BalanceAlert:
    """The fields R-7 requires; the rules between them are ``validate_balance_alerts``'."""
    validate_currency(message.currency, f"{field}.currency")
    threshold = message.WhichOneof("threshold")
    if threshold is None:
        raise InvalidArgument.for_field(f"{field}.amount", "an amount or a percent_of_granted is required")
    if threshold == "amount":
        return BalanceAlert(message.currency, money_from_proto(message.amount, f"{field}.amount"), None)
    percent = decimal_from_proto(
        message.percent_of_granted, f"{field}.percent_of_granted", reason=reasons.INVALID_ARGUMENT
    )
    return BalanceAlert(message.currency, None, percent)


def balance_alert_to_proto(alert: BalanceAlert) -> customer_pb2.BalanceAlert:
    message = customer_pb2.BalanceAlert(currency=alert.currency)
    if alert.amount is not None:
        message.amount.CopyFrom(money_to_proto(alert.amount))
    if alert.percent_of_granted is not None:
        message.percent_of_granted.CopyFrom(decimal_to_proto(alert.percent_of_granted))
    return message


def threshold_crossed_to_proto(crossed: ThresholdCrossed) -> customer_pb2.CreditBalanceThresholdCrossed:
    return customer_pb2.CreditBalanceThresholdCrossed(
        customer_id=crossed.customer_id,
        balance_alert=balance_alert_to_proto(crossed.alert),
        threshold=money_to_proto(crossed.threshold),
        spendable_balance=money_to_proto(crossed.spendable_balance),
        granted=money_to_proto(crossed.granted),
        as_of_time=timestamp_to_proto(crossed.as_of),
    )


def overdraft_allowances_from_proto(messages, field: str) -> dict[str, int]:
    """R-2: at most one allowance per currency, each not negative, in whole minor units."""
    allowances: dict[str, int] = {}
    for position, message in enumerate(messages):
        money = money_from_proto(message, f"{field}[{position}]")
        if money.minor < 0:
            raise InvalidArgument.for_field(
                f"{field}[{position}]", "must not be negative", reason=reasons.INVALID_AMOUNT
            )
        if money.currency in allowances:
            raise InvalidArgument.for_field(
                f"{field}[{position}].currency_code",
                f"a second allowance in {money.currency}",
                reason=reasons.CURRENCY_MISMATCH,
            )
        allowances[money.currency] = money.minor
    return allowances


def customer_to_proto(customer: CustomerRecord) -> customer_pb2.Customer:
    return customer_pb2.Customer(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        metadata=dict(customer.metadata),
        test_clock_id=customer.test_clock_id or "",
        invoice_settings=customer_pb2.CustomerInvoiceSettings(
            grace_period=duration_to_proto(customer.grace_period)
        ),
        create_time=timestamp_to_proto(customer.create_time),
        update_time=timestamp_to_proto(customer.update_time),
        credit_settings=customer_pb2.CustomerCreditSettings(
            overdraft_allowances=[
                money_to_proto(Money(currency, minor))
                for currency, minor in sorted(customer.overdraft_allowances.items())
            ],
            auto_top_ups=[auto_top_up_to_proto(t) for t in customer.auto_top_ups],
            balance_alerts=[balance_alert_to_proto(a) for a in customer.balance_alerts],
        ),
    )


def live_balance_to_proto(
    customer_id: str, as_of, balances: list[tuple[str, LiveBalance]]
) -> customer_pb2.CustomerLiveBalance:
    return customer_pb2.CustomerLiveBalance(
        customer_id=customer_id,
        as_of_time=timestamp_to_proto(as_of),
        balances=[
            customer_pb2.LiveBalance(
                available_credits=money_to_proto(balance.available_credits),
                unbilled_usage=money_to_proto(balance.unbilled_usage),
                live_balance=money_to_proto(balance.live_balance),
                reserved=money_to_proto(balance.reserved),
                overdraft_allowance=money_to_proto(balance.overdraft_allowance),
                spendable_balance=money_to_proto(balance.spendable_balance),
            )
            for _, balance in balances
        ],
    )


def product_to_proto(product: ProductRecord) -> product_pb2.Product:
    return product_pb2.Product(
        id=product.id,
        name=product.name,
        description=product.description,
        active=product.active,
        metadata=dict(product.metadata),
        create_time=timestamp_to_proto(product.create_time),
    )


# -- prices -------------------------------------------------------------------------


def price_from_proto(message: price_pb2.Price) -> Price:
    """The price as requested, for ``validate_new_price`` to judge (I-2).

    An enum number that names no value of a required field (type, recurring.interval,
    transform_quantity.round) is as good as unset: None, which the domain refuses. One
    that cannot stand for unset, because unset has a meaning (billing_scheme: PER_UNIT,
    tiers_mode: none), and a decimal that is no number cannot be converted at all: they
    are refused here, naming the proto field.
    """
    scheme = _SCHEMES.parse(message.billing_scheme, "price.billing_scheme") or BillingScheme.PER_UNIT
    tiers_mode = _TIERS_MODES.parse(message.tiers_mode, "price.tiers_mode", reason=reasons.INVALID_TIERS)
    unit = None
    if message.HasField("unit_amount_decimal"):
        unit = decimal_from_proto(
            message.unit_amount_decimal, "price.unit_amount_decimal", reason=reasons.INVALID_UNIT_AMOUNT
        )
    tiers = tuple(_tier_from_proto(tier, f"price.tiers[{i}]") for i, tier in enumerate(message.tiers))
    transform = None
    if message.HasField("transform_quantity"):
        transform = TransformQuantity(
            message.transform_quantity.divide_by, _ROUNDINGS.from_proto(message.transform_quantity.round)
        )
    return Price(
        currency=message.currency.upper(),
        usage_type=USAGE_TYPES.from_proto(message.type),
        interval=_INTERVALS.from_proto(message.recurring.interval),
        interval_count=message.recurring.interval_count,
        meter_id=message.meter_id or None,
        billing_scheme=scheme,
        unit_amount_decimal=unit,
        tiers_mode=tiers_mode,
        tiers=tiers,
        transform_quantity=transform,
    )


# The proto paths of the price fields the contract names otherwise than the domain does;
# a fault of any other field keeps the domain's name (``interval_count``, ``tiers[0]``).
_PRICE_FIELD_PATHS = {
    "usage_type": "price.type",
    "meter_id": "price.meter_id",
    "interval": "price.recurring.interval",
    "transform_quantity": "price.transform_quantity",
    "transform_quantity.divide_by": "price.transform_quantity",
    "transform_quantity.round": "price.transform_quantity",
}


@contextmanager
def price_fields_named_by_proto() -> Iterator[None]:
    """A price refused by the domain, its field named as the contract names it."""
    try:
        yield
    except InvalidArgument as error:
        path = _PRICE_FIELD_PATHS.get(error.metadata.get("field", ""))
        if path is None:
            raise
        raise InvalidArgument.for_field(
            path,
            error.field_violations[0].description,
            reason=error.reason,
            metadata={key: value for key, value in error.metadata.items() if key != "field"},
        ) from None


def _tier_from_proto(tier: price_pb2.PriceTier, field: str) -> Tier:
    def amount(name: str) -> Decimal | None:
        if not tier.HasField(name):
            return None
        return decimal_from_proto(getattr(tier, name), f"{field}.{name}", reason=reasons.INVALID_TIERS)

    return Tier(
        up_to=tier.up_to if tier.HasField("up_to") else None,
        unit_amount_decimal=amount("unit_amount_decimal"),
        flat_amount_decimal=amount("flat_amount_decimal"),
    )


def price_to_proto(record: PriceRecord) -> price_pb2.Price:
    price = record.price
    message = price_pb2.Price(
        id=record.id,
        product_id=record.product_id,
        currency=price.currency,
        active=record.active,
        nickname=record.nickname,
        metadata=dict(record.metadata),
        type=USAGE_TYPES.to_proto(price.usage_type),  # type: ignore[arg-type]
        recurring=price_pb2.Recurring(
            interval=_INTERVALS.to_proto(price.interval),  # type: ignore[arg-type]
            interval_count=price.interval_count,
        ),
        meter_id=price.meter_id or "",
        billing_scheme=price_pb2.BILLING_SCHEME_TIERED
        if price.billing_scheme is BillingScheme.TIERED
        else price_pb2.BILLING_SCHEME_PER_UNIT,
        create_time=timestamp_to_proto(record.create_time),
        update_time=timestamp_to_proto(record.update_time),
    )
    if price.unit_amount_decimal is not None:
        message.unit_amount_decimal.CopyFrom(decimal_to_proto(price.unit_amount_decimal))
    if price.tiers_mode is not None:
        message.tiers_mode = _TIERS_MODES.to_proto(price.tiers_mode)  # type: ignore[assignment]
    for tier in price.tiers:
        out = message.tiers.add()
        if tier.up_to is not None:
            out.up_to = tier.up_to
        if tier.unit_amount_decimal is not None:
            out.unit_amount_decimal.CopyFrom(decimal_to_proto(tier.unit_amount_decimal))
        if tier.flat_amount_decimal is not None:
            out.flat_amount_decimal.CopyFrom(decimal_to_proto(tier.flat_amount_decimal))
    if price.transform_quantity is not None:
        message.transform_quantity.CopyFrom(
            price_pb2.TransformQuantity(
                divide_by=price.transform_quantity.divide_by,
                round=_ROUNDINGS.to_proto(price.transform_quantity.round),  # type: ignore[arg-type]
            )
        )
    return message


# -- subscriptions ----------------------------------------------------------------


def new_items_from_proto(subscription: subscription_pb2.Subscription) -> list[NewItem]:
    return [
        NewItem(item.price_id, item.quantity if item.HasField("quantity") else None)
        for item in subscription.items
    ]


def subscription_grace_from_proto(subscription: subscription_pb2.Subscription) -> timedelta | None:
    settings = subscription.invoice_settings
    if not settings.HasField("grace_period"):
        return None
    return duration_from_proto(settings.grace_period, "subscription.invoice_settings.grace_period")


def subscription_to_proto(record: SubscriptionRecord) -> subscription_pb2.Subscription:
    price = record.items[0].price
    message = subscription_pb2.Subscription(
        id=record.id,
        customer_id=record.customer_id,
        items=[
            subscription_pb2.SubscriptionItem(id=item.id, price_id=item.price_id, quantity=item.quantity)
            for item in record.items
        ],
        currency=record.currency,
        recurring=price_pb2.Recurring(
            interval=_INTERVALS.to_proto(price.interval),  # type: ignore[arg-type]
            interval_count=price.interval_count,
        ),
        billing_cycle_anchor=timestamp_to_proto(record.billing_cycle_anchor),
        current_period_start=timestamp_to_proto(record.current_period.start),
        current_period_end=timestamp_to_proto(record.current_period.end),
        status=SUBSCRIPTION_STATUSES.to_proto(record.status),  # type: ignore[arg-type]
        cancel_at_period_end=record.cancel_at_period_end,
        cancel_time=timestamp_to_proto(record.cancel_time),
        latest_invoice_id=record.latest_invoice_id or "",
        create_time=timestamp_to_proto(record.create_time),
        update_time=timestamp_to_proto(record.update_time),
        billing_error=billing_error_to_proto(record.billing_error),
    )
    if record.grace_period is not None:
        message.invoice_settings.grace_period.CopyFrom(duration_to_proto(record.grace_period))
    return message


# -- invoices -----------------------------------------------------------------------


def invoice_to_proto(invoice: InvoiceRecord) -> invoice_pb2.Invoice:
    """An invoice as the API shows it: saga states as the status they stand in for, and
    transaction ids only once credits are posted (I-13)."""
    currency = invoice.currency
    state = invoice.status
    status = state.shown
    preview = not invoice.id
    payment = invoice_payment(
        state, Money(currency, invoice.amount_due), Money(currency, invoice.amount_paid)
    )

    def money(minor: int) -> object:
        return money_to_proto(Money(currency, minor))

    message = invoice_pb2.Invoice(
        id=invoice.id,
        customer_id=invoice.customer_id,
        subscription_id=invoice.subscription_id or "",
        status=INVOICE_STATUSES.to_proto(status),  # type: ignore[arg-type]
        billing_reason=_BILLING_REASONS.to_proto(invoice.billing_reason),  # type: ignore[arg-type]
        currency=currency,
        period_start=timestamp_to_proto(invoice.period.start),
        period_end=timestamp_to_proto(invoice.period.end),
        subtotal=money(invoice.subtotal),
        total_credits_applied=money(invoice.total_credits_applied),
        total=money_to_proto(invoice_total(Money(currency, invoice.subtotal))),
        amount_due=money(invoice.amount_due),
        amount_paid=money_to_proto(payment.amount_paid),
        amount_remaining=money_to_proto(payment.amount_remaining),
        create_time=timestamp_to_proto(invoice.create_time),
        update_time=timestamp_to_proto(invoice.update_time),
        billing_error=billing_error_to_proto(invoice.billing_error),
    )
    for stored in invoice.lines:
        line = stored.line
        out = message.lines.add(
            id="" if preview else line.id,
            description=stored.description,
            type=_LINE_TYPES.to_proto(line.kind),  # type: ignore[arg-type]
            price_id=line.price_id or "",
            subscription_item_id=line.subscription_item_id or "",
            quantity=decimal_to_proto(line.quantity),
            amount=money_to_proto(line.amount),
            period_start=timestamp_to_proto(line.period.start),
            period_end=timestamp_to_proto(line.period.end),
            credits_applied=money(stored.credits_applied),
        )
        if stored.usage_quantity is not None:
            out.usage_quantity.CopyFrom(decimal_to_proto(stored.usage_quantity))
        if line.unit_amount_decimal is not None:
            out.unit_amount_decimal.CopyFrom(decimal_to_proto(line.unit_amount_decimal))
        for credit in stored.credits:
            out.credits.add(
                credit_grant_id=credit.grant_id,
                amount=money(credit.amount),
                credit_balance_transaction_id=credit.transaction_id,
            )
    for application in invoice.credit_applications:
        message.credit_applications.add(
            credit_grant_id=application.grant_id,
            amount=money(application.amount),
            credit_balance_transaction_ids=list(application.transaction_ids),
            reinstate_credit_balance_transaction_id=application.reinstate_transaction_id,
        )
    if status is InvoiceStatus.DRAFT and invoice.auto_finalize_time is not None:
        message.auto_finalize_time.CopyFrom(timestamp_to_proto(invoice.auto_finalize_time))
    if status is not InvoiceStatus.DRAFT:
        _set_time(message, "finalize_time", invoice.finalize_time)
    if state is InvoiceState.PAID:
        _set_time(message, "paid_time", invoice.paid_time)
    if state is InvoiceState.VOID:
        _set_time(message, "void_time", invoice.void_time)
    _set_time(message, "uncollectible_time", invoice.uncollectible_time)
    if invoice.credit_purchase is not None:
        message.credit_purchase.CopyFrom(credit_purchase_to_proto(invoice.credit_purchase))
    return message


def _set_time(message: invoice_pb2.Invoice, field: str, moment) -> None:
    if moment is not None:
        getattr(message, field).CopyFrom(timestamp_to_proto(moment))


def credit_purchase_to_proto(purchase) -> invoice_pb2.CreditPurchase:
    scope = (
        invoice_pb2.CreditApplicabilityConfig(
            prices=invoice_pb2.CreditApplicabilityPrices(price_ids=purchase["price_ids"])
        )
        if purchase["price_ids"]
        else invoice_pb2.CreditApplicabilityConfig(price_type=invoice_pb2.CREDIT_PRICE_TYPE_METERED)
    )
    message = invoice_pb2.CreditPurchase(
        name=purchase["name"],
        priority=int(purchase["priority"]),
        applicability_config=scope,
        metadata=purchase["metadata"],
        credit_grant_id=purchase.get("credit_grant_id", ""),
    )
    if purchase.get("expire_time"):
        message.expire_time.CopyFrom(timestamp_to_proto(datetime.fromisoformat(purchase["expire_time"])))
    return message


def purchase_price_ids_from_proto(config: invoice_pb2.CreditApplicabilityConfig) -> list[str]:
    """The purchase's price scope: [] for all metered prices (I-15)."""
    scope = config.WhichOneof("scope")
    if scope == "price_type":
        if config.price_type != invoice_pb2.CREDIT_PRICE_TYPE_METERED:
            raise InvalidArgument.for_field(
                "applicability_config.price_type",
                "must be CREDIT_PRICE_TYPE_METERED",
                reason=reasons.INVALID_APPLICABILITY,
            )
        return []
    if scope == "prices" and config.prices.price_ids:
        return list(config.prices.price_ids)
    raise InvalidArgument.for_field(
        "applicability_config",
        "exactly one scope is required: price_type or a list of prices",
        reason=reasons.INVALID_APPLICABILITY,
    )


# The API message of each kind of value invoicing records events about (E-2).
EVENT_DATA = encoder(
    {
        CustomerRecord: customer_to_proto,
        SubscriptionRecord: subscription_to_proto,
        InvoiceRecord: invoice_to_proto,
        TestClockRecord: test_clock_to_proto,
        WebhookEndpoint: endpoint_to_proto,
        UsageAuthorization: authorization_to_proto,
        ThresholdCrossed: threshold_crossed_to_proto,
    }
)
