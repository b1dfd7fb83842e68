"""Protobuf enums ⇄ domain enums, paired by name once instead of in a map per direction.

Contract enums follow buf's rule: every value is ``<PREFIX>_<NAME>`` and value 0 is
``<PREFIX>_UNSPECIFIED``. A domain enum member pairs with the value of its own name
(``AGGREGATION_FORMULA_SUM`` ⇄ ``Aggregation.SUM``), so adding a member to either side is
one edit, and a domain member the contract cannot carry fails at import, not at run time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from drawdown.errors import InvalidArgument

D = TypeVar("D", bound=enum.Enum)


class EnumMap(Generic[D]):
    """The pairs of one proto enum (its generated wrapper, e.g. ``meter_pb2.MeterStatus``)
    and one domain enum: all its members, or ``only`` those the proto enum carries (a
    domain enum split over two contract enums); ``renamed`` pairs the members whose
    names differ (NAME → member)."""

    def __init__(
        self,
        proto_enum: Any,
        domain: type[D],
        *,
        only: Iterable[D] | None = None,
        renamed: Mapping[str, D] | None = None,
    ) -> None:
        unspecified = proto_enum.Name(0)
        if not unspecified.endswith("_UNSPECIFIED"):
            raise ValueError(f"{unspecified} is not an UNSPECIFIED zero value")
        prefix = unspecified.removesuffix("UNSPECIFIED")
        self._name = proto_enum.DESCRIPTOR.name
        by_name = {member.name: member for member in domain} | dict(renamed or {})
        self._to_domain: dict[int, D] = {}
        for name, number in proto_enum.items():
            member = by_name.get(name.removeprefix(prefix))
            if number and member is not None:
                self._to_domain[number] = member
        self._to_proto = {member: number for number, member in self._to_domain.items()}
        missing = [
            member.name for member in (domain if only is None else only) if member not in self._to_proto
        ]
        if missing:
            raise ValueError(f"{domain.__name__} members without a value in {prefix}*: {missing}")

    def from_proto(self, value: int) -> D | None:
        """The domain member of ``value``; None for UNSPECIFIED or a value the domain lacks."""
        return self._to_domain.get(value)

    def parse(self, value: int, field: str, *, reason: str | None = None) -> D | None:
        """``from_proto`` for a request field: None for UNSPECIFIED, and a value the domain
        does not know (a newer contract's, or any other number) INVALID_ARGUMENT naming
        the field (with ``reason``, default the generic one)."""
        member = self._to_domain.get(value)
        if member is None and value:
            raise InvalidArgument.for_field(field, f"{value} is not a {self._name}", reason=reason)
        return member

    def to_proto(self, member: D | None) -> int:
        """The proto value of ``member``; UNSPECIFIED (0) for None."""
        return 0 if member is None else self._to_proto[member]
