import datetime

from drawdown.invoicing.v1 import billing_error_pb2 as _billing_error_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_DRAFT: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_OPEN: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_PAID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_VOID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_UNCOLLECTIBLE: _ClassVar[InvoiceStatus]

class BillingReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLING_REASON_UNSPECIFIED: _ClassVar[BillingReason]
    BILLING_REASON_SUBSCRIPTION_CYCLE: _ClassVar[BillingReason]
    BILLING_REASON_SUBSCRIPTION_CANCEL: _ClassVar[BillingReason]
    BILLING_REASON_SUBSCRIPTION_CREATE: _ClassVar[BillingReason]
    BILLING_REASON_CREDIT_PURCHASE: _ClassVar[BillingReason]

class InvoiceLineType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_LINE_TYPE_UNSPECIFIED: _ClassVar[InvoiceLineType]
    INVOICE_LINE_TYPE_METERED: _ClassVar[InvoiceLineType]
    INVOICE_LINE_TYPE_LICENSED: _ClassVar[InvoiceLineType]
    INVOICE_LINE_TYPE_CREDIT_PURCHASE: _ClassVar[InvoiceLineType]

class CreditPriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_PRICE_TYPE_UNSPECIFIED: _ClassVar[CreditPriceType]
    CREDIT_PRICE_TYPE_METERED: _ClassVar[CreditPriceType]
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_DRAFT: InvoiceStatus
INVOICE_STATUS_OPEN: InvoiceStatus
INVOICE_STATUS_PAID: InvoiceStatus
INVOICE_STATUS_VOID: InvoiceStatus
INVOICE_STATUS_UNCOLLECTIBLE: InvoiceStatus
BILLING_REASON_UNSPECIFIED: BillingReason
BILLING_REASON_SUBSCRIPTION_CYCLE: BillingReason
BILLING_REASON_SUBSCRIPTION_CANCEL: BillingReason
BILLING_REASON_SUBSCRIPTION_CREATE: BillingReason
BILLING_REASON_CREDIT_PURCHASE: BillingReason
INVOICE_LINE_TYPE_UNSPECIFIED: InvoiceLineType
INVOICE_LINE_TYPE_METERED: InvoiceLineType
INVOICE_LINE_TYPE_LICENSED: InvoiceLineType
INVOICE_LINE_TYPE_CREDIT_PURCHASE: InvoiceLineType
CREDIT_PRICE_TYPE_UNSPECIFIED: CreditPriceType
CREDIT_PRICE_TYPE_METERED: CreditPriceType

class Invoice(_message.Message):
    __slots__ = ("id", "customer_id", "subscription_id", "status", "billing_reason", "currency", "period_start", "period_end", "lines", "subtotal", "total_credits_applied", "credit_applications", "total", "amount_due", "amount_paid", "amount_remaining", "auto_finalize_time", "finalize_time", "paid_time", "void_time", "uncollectible_time", "create_time", "update_time", "credit_purchase", "billing_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BILLING_REASON_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CREDITS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    CREDIT_APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_PAID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_REMAINING_FIELD_NUMBER: _ClassVar[int]
    AUTO_FINALIZE_TIME_FIELD_NUMBER: _ClassVar[int]
    FINALIZE_TIME_FIELD_NUMBER: _ClassVar[int]
    PAID_TIME_FIELD_NUMBER: _ClassVar[int]
    VOID_TIME_FIELD_NUMBER: _ClassVar[int]
    UNCOLLECTIBLE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREDIT_PURCHASE_FIELD_NUMBER: _ClassVar[int]
    BILLING_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    customer_id: str
    subscription_id: str
    status: InvoiceStatus
    billing_reason: BillingReason
    currency: str
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    subtotal: _money_pb2.Money
    total_credits_applied: _money_pb2.Money
    credit_applications: _containers.RepeatedCompositeFieldContainer[InvoiceCreditApplication]
    total: _money_pb2.Money
    amount_due: _money_pb2.Money
    amount_paid: _money_pb2.Money
    amount_remaining: _money_pb2.Money
    auto_finalize_time: _timestamp_pb2.Timestamp
    finalize_time: _timestamp_pb2.Timestamp
    paid_time: _timestamp_pb2.Timestamp
    void_time: _timestamp_pb2.Timestamp
    uncollectible_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    credit_purchase: CreditPurchase
    billing_error: _billing_error_pb2.BillingError
    def __init__(self, id: _Optional[str] = ..., customer_id: _Optional[str] = ..., subscription_id: _Optional[str] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., billing_reason: _Optional[_Union[BillingReason, str]] = ..., currency: _Optional[str] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ..., subtotal: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_credits_applied: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., credit_applications: _Optional[_Iterable[_Union[InvoiceCreditApplication, _Mapping]]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., amount_due: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., amount_paid: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., amount_remaining: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., auto_finalize_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finalize_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., void_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uncollectible_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credit_purchase: _Optional[_Union[CreditPurchase, _Mapping]] = ..., billing_error: _Optional[_Union[_billing_error_pb2.BillingError, _Mapping]] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("id", "description", "type", "price_id", "subscription_item_id", "quantity", "usage_quantity", "unit_amount_decimal", "amount", "period_start", "period_end", "credits", "credits_applied")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    USAGE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_DECIMAL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    CREDITS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    type: InvoiceLineType
    price_id: str
    subscription_item_id: str
    quantity: _decimal_pb2.Decimal
    usage_quantity: _decimal_pb2.Decimal
    unit_amount_decimal: _decimal_pb2.Decimal
    amount: _money_pb2.Money
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    credits: _containers.RepeatedCompositeFieldContainer[InvoiceLineCredit]
    credits_applied: _money_pb2.Money
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[_Union[InvoiceLineType, str]] = ..., price_id: _Optional[str] = ..., subscription_item_id: _Optional[str] = ..., quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., usage_quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unit_amount_decimal: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credits: _Optional[_Iterable[_Union[InvoiceLineCredit, _Mapping]]] = ..., credits_applied: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class InvoiceLineCredit(_message.Message):
    __slots__ = ("credit_grant_id", "amount", "credit_balance_transaction_id")
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_BALANCE_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    credit_grant_id: str
    amount: _money_pb2.Money
    credit_balance_transaction_id: str
    def __init__(self, credit_grant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., credit_balance_transaction_id: _Optional[str] = ...) -> None: ...

class InvoiceCreditApplication(_message.Message):
    __slots__ = ("credit_grant_id", "amount", "credit_balance_transaction_ids", "reinstate_credit_balance_transaction_id")
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_BALANCE_TRANSACTION_IDS_FIELD_NUMBER: _ClassVar[int]
    REINSTATE_CREDIT_BALANCE_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    credit_grant_id: str
    amount: _money_pb2.Money
    credit_balance_transaction_ids: _containers.RepeatedScalarFieldContainer[str]
    reinstate_credit_balance_transaction_id: str
    def __init__(self, credit_grant_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., credit_balance_transaction_ids: _Optional[_Iterable[str]] = ..., reinstate_credit_balance_transaction_id: _Optional[str] = ...) -> None: ...

class CreditPurchase(_message.Message):
    __slots__ = ("name", "priority", "applicability_config", "expire_time", "metadata", "credit_grant_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    APPLICABILITY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREDIT_GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    priority: int
    applicability_config: CreditApplicabilityConfig
    expire_time: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    credit_grant_id: str
    def __init__(self, name: _Optional[str] = ..., priority: _Optional[int] = ..., applicability_config: _Optional[_Union[CreditApplicabilityConfig, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., credit_grant_id: _Optional[str] = ...) -> None: ...

class CreditApplicabilityConfig(_message.Message):
    __slots__ = ("price_type", "prices")
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    price_type: CreditPriceType
    prices: CreditApplicabilityPrices
    def __init__(self, price_type: _Optional[_Union[CreditPriceType, str]] = ..., prices: _Optional[_Union[CreditApplicabilityPrices, _Mapping]] = ...) -> None: ...

class CreditApplicabilityPrices(_message.Message):
    __slots__ = ("price_ids",)
    PRICE_IDS_FIELD_NUMBER: _ClassVar[int]
    price_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, price_ids: _Optional[_Iterable[str]] = ...) -> None: ...
