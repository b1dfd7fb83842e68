"""Customers and the free-form fields every resource carries (I-1)."""

from __future__ import annotations

from collections.abc import Mapping

from drawdown.errors import InvalidArgument

MAX_NAME_LENGTH = 256
MAX_EMAIL_LENGTH = 512
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


def validate_customer(name: str, email: str, field_prefix: str = "customer") -> None:
    """A customer's name is at most 256 characters; its email, if given, at most 512 with
    exactly one ``@`` (I-1). Errors name ``customer.name`` / ``customer.email``."""
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument.for_field(
            f"{field_prefix}.name", f"must be at most {MAX_NAME_LENGTH} characters"
        )
    if email and (len(email) > MAX_EMAIL_LENGTH or email.count("@") != 1):
        raise InvalidArgument.for_field(
            f"{field_prefix}.email", f"must hold exactly one @ and at most {MAX_EMAIL_LENGTH} characters"
        )


def validate_text(value: str, field: str, max_length: int, *, required: bool = False) -> str:
    """A label of at most ``max_length`` characters, non-empty when ``required``."""
    if required and not value:
        raise InvalidArgument.for_field(field, "is required")
    if len(value) > max_length:
        raise InvalidArgument.for_field(field, f"must be at most {max_length} characters")
    return value


def validate_metadata(metadata: Mapping[str, str], field: str) -> dict[str, str]:
    """Metadata: at most 50 keys, keys 1..40 characters, values at most 500 (as Stripe)."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidArgument.for_field(field, f"has more than {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidArgument.for_field(
                f"{field}[{key}]", f"keys are 1 to {MAX_METADATA_KEY_LENGTH} characters"
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise InvalidArgument.for_field(
                f"{field}[{key}]", f"values are at most {MAX_METADATA_VALUE_LENGTH} characters"
            )
    return dict(metadata)
