"""Every event type the services record (E-1), one name each: the services record these
constants, and webhook endpoints may subscribe only to them (or to ``*``)."""

from __future__ import annotations

METER_CREATED = "meter.created"
METER_UPDATED = "meter.updated"
METER_DEACTIVATED = "meter.deactivated"
METER_REACTIVATED = "meter.reactivated"
METER_ERROR_REPORT = "meter.error_report"

CREDIT_GRANT_CREATED = "credit_grant.created"
CREDIT_GRANT_UPDATED = "credit_grant.updated"
CREDIT_GRANT_EXPIRED = "credit_grant.expired"
CREDIT_GRANT_VOIDED = "credit_grant.voided"
CREDIT_GRANT_DEPLETED = "credit_grant.depleted"
CREDIT_BALANCE_TRANSACTION_CREATED = "credit_balance_transaction.created"
CREDIT_BALANCE_THRESHOLD_CROSSED = "credit_balance.threshold_crossed"
CREDIT_BALANCE_AUTO_TOP_UP = "credit_balance.auto_top_up"

CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_CANCELED = "subscription.canceled"
INVOICE_CREATED = "invoice.created"
INVOICE_FINALIZED = "invoice.finalized"
INVOICE_PAID = "invoice.paid"
INVOICE_VOIDED = "invoice.voided"
INVOICE_MARKED_UNCOLLECTIBLE = "invoice.marked_uncollectible"
CREDIT_PURCHASE_PAID = "credit_purchase.paid"
TEST_CLOCK_READY = "test_clock.ready"
WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
USAGE_AUTHORIZATION_CREATED = "usage_authorization.created"
USAGE_AUTHORIZATION_CAPTURED = "usage_authorization.captured"
USAGE_AUTHORIZATION_RELEASED = "usage_authorization.released"
USAGE_AUTHORIZATION_EXPIRED = "usage_authorization.expired"

# Subscribes an endpoint to every type.
EVERY_TYPE = "*"

ALL = frozenset(value for name, value in dict(globals()).items() if name.isupper() and value != EVERY_TYPE)
