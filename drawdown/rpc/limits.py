"""Request limits declared in the contracts, checked before a handler runs (X-5, X-7).

``(drawdown.type.v1.string_limit)`` on a field bounds its length (default 255 characters
for every string, and every map key); no string may hold NUL, which PostgreSQL cannot
store. ``(drawdown.type.v1.max_request_bytes)`` on an RPC bounds its serialized request
(default 4 MiB). Messages marked ``strings_checked_per_entry`` (meter events) are left to
their service, which answers each entry of a batch on its own.

A guard is compiled once per request type from its descriptor and walks only the fields
a request sets, so a request without strings costs one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from google.protobuf import descriptor as descriptor_module
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError, Message

from drawdown import reasons
from drawdown.errors import InvalidArgument, ResourceExhausted
from drawdown.type.v1 import limits_pb2

FieldDescriptor = descriptor_module.FieldDescriptor

DEFAULT_MAX_LENGTH = 255
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
# What a server receives at most in one message; no RPC may declare more.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
NUL = "\x00"

_NO_STRINGS = ("google.protobuf.Timestamp", "google.protobuf.Duration")


@dataclass(frozen=True)
class _StringField:
    """How one string field (scalar, repeated or map of strings) is bounded."""

    name: str
    max_length: int
    max_key_length: int
    reason: str
    shape: str  # "scalar", "repeated" or "map"
    map_values_are_strings: bool = True


@dataclass
class _MessageGuard:
    """The checks of one message type: its string fields and the messages inside it."""

    strings: dict[int, _StringField] = field(default_factory=dict)
    messages: dict[int, tuple[str, str, _MessageGuard]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.strings and not self.messages

    def check(self, message: Message, path: str) -> None:
        for descriptor, value in message.ListFields():
            rule = self.strings.get(descriptor.number)
            if rule is not None:
                _check_strings(rule, value, path)
            nested = self.messages.get(descriptor.number)
            if nested is not None:
                name, shape, guard = nested
                if shape == "scalar":
                    guard.check(value, f"{path}{name}.")
                elif shape == "repeated":
                    for index, item in enumerate(value):
                        guard.check(item, f"{path}{name}[{index}].")
                else:  # a map whose values are messages
                    for key, item in value.items():
                        _check_key(key, f"{path}{name}", DEFAULT_MAX_LENGTH, reasons.STRING_TOO_LONG)
                        guard.check(item, f"{path}{name}.")


def _check_strings(rule: _StringField, value: Any, path: str) -> None:
    where = f"{path}{rule.name}"
    if rule.shape == "scalar":
        _check_one(value, where, rule.max_length, rule.reason)
    elif rule.shape == "repeated":
        for index, item in enumerate(value):
            _check_one(item, f"{where}[{index}]", rule.max_length, rule.reason)
    else:
        for key, item in value.items():
            _check_key(key, where, rule.max_key_length, rule.reason)
            if rule.map_values_are_strings:
                _check_one(item, where, rule.max_length, rule.reason)


def _check_key(key: Any, where: str, max_length: int, reason: str) -> None:
    if isinstance(key, str):
        _check_one(key, where, max_length, reason, what="keys")


def _check_one(text: str, where: str, max_length: int, reason: str, what: str = "") -> None:
    if len(text) > max_length:
        noun = f"{what} are" if what else "is"
        raise InvalidArgument.for_field(
            where, f"{noun} limited to {max_length} characters", reason=reason or reasons.STRING_TOO_LONG
        )
    if NUL in text:
        raise InvalidArgument.for_field(
            where, "must not contain the NUL character (U+0000)", reason=reasons.INVALID_CHARACTER
        )


def _string_field(descriptor: FieldDescriptor) -> _StringField | None:
    """The bound of ``descriptor`` if it holds strings (or is a map with string keys)."""
    options = descriptor.GetOptions()
    limit = (
        options.Extensions[limits_pb2.string_limit] if options.HasExtension(limits_pb2.string_limit) else None
    )
    max_length = (limit.max_length if limit else 0) or DEFAULT_MAX_LENGTH
    max_key_length = (limit.max_key_length if limit else 0) or DEFAULT_MAX_LENGTH
    reason = (limit.reason if limit else "") or reasons.STRING_TOO_LONG
    entry = descriptor.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        if key.type != FieldDescriptor.TYPE_STRING:
            return None
        values_are_strings = value.type == FieldDescriptor.TYPE_STRING
        if not values_are_strings and value.type == FieldDescriptor.TYPE_MESSAGE:
            return None  # keys are checked with the nested messages
        return _StringField(descriptor.name, max_length, max_key_length, reason, "map", values_are_strings)
    if descriptor.type != FieldDescriptor.TYPE_STRING:
        return None
    shape = "repeated" if descriptor.is_repeated else "scalar"
    return _StringField(descriptor.name, max_length, max_key_length, reason, shape)


def _compile(descriptor: descriptor_module.Descriptor, seen: dict[str, _MessageGuard]) -> _MessageGuard:
    existing = seen.get(descriptor.full_name)
    if existing is not None:
        return existing
    guard = seen[descriptor.full_name] = _MessageGuard()
    if (
        descriptor.full_name in _NO_STRINGS
        or descriptor.GetOptions().Extensions[limits_pb2.strings_checked_per_entry]
    ):
        return guard
    for child in descriptor.fields:
        strings = _string_field(child)
        if strings is not None:
            guard.strings[child.number] = strings
            continue
        message_type = child.message_type
        if message_type is None:
            continue
        if message_type.GetOptions().map_entry:
            value = message_type.fields_by_name["value"]
            if value.message_type is None:
                continue
            nested = _compile(value.message_type, seen)
            guard.messages[child.number] = (child.name, "map", nested)
            continue
        nested = _compile(message_type, seen)
        guard.messages[child.number] = (child.name, "repeated" if child.is_repeated else "scalar", nested)
    return guard


def _prune(guard: _MessageGuard, seen: set[int]) -> bool:
    """Drop nested guards that check nothing; True if ``guard`` itself checks nothing."""
    if id(guard) in seen:
        return False  # recursive types: keep, they may hold strings further down
    seen.add(id(guard))
    for number, (_, _, nested) in list(guard.messages.items()):
        if _prune(nested, seen):
            del guard.messages[number]
    return guard.is_empty()


@dataclass(frozen=True)
class MethodLimits:
    """What the contracts bound for one RPC: its request size and its request's strings."""

    max_request_bytes: int
    check: Callable[[Message], None] | None

    @property
    def checks_anything(self) -> bool:
        """Whether a request can fail these limits before gRPC's own size limit refuses it."""
        return self.check is not None or self.max_request_bytes < MAX_MESSAGE_BYTES


@cache
def method_limits(method: str) -> MethodLimits:
    """The limits of ``/pkg.Service/Method`` (the defaults for a method not in the contracts)."""
    full_name = method.lstrip("/").replace("/", ".")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(full_name)
    except KeyError:
        return MethodLimits(DEFAULT_MAX_REQUEST_BYTES, None)
    max_bytes = descriptor.GetOptions().Extensions[limits_pb2.max_request_bytes] or DEFAULT_MAX_REQUEST_BYTES
    guard = _compile(descriptor.input_type, {})
    if _prune(guard, set()):
        return MethodLimits(max_bytes, None)
    return MethodLimits(max_bytes, lambda request: guard.check(request, ""))


@dataclass(frozen=True)
class OversizedRequest:
    """Stands in for a request whose bytes were over its RPC's limit: never decoded."""

    size: int
    limit: int

    def refusal(self) -> ResourceExhausted:
        return ResourceExhausted(
            f"request of {self.size} bytes is over this RPC's limit of {self.limit} bytes",
            reason=reasons.REQUEST_TOO_LARGE,
            metadata={"limit_bytes": str(self.limit)},
        )


class UndecodableRequest:
    """Stands in for request bytes that are no message of the RPC's request type."""

    def refusal(self) -> InvalidArgument:
        return InvalidArgument(
            "the request is not a valid message of this RPC's request type (strings must be UTF-8)",
            reason=reasons.INVALID_REQUEST_ENCODING,
        )


def bounded_deserializer(
    deserialize: Callable[[bytes], Any] | None, limit: int
) -> Callable[[bytes], Any] | None:
    """``deserialize``, except that a request over ``limit`` bytes is not decoded at all."""
    if deserialize is None:
        return None

    def bounded(data: bytes) -> Any:
        if len(data) > limit:
            return OversizedRequest(len(data), limit)
        try:
            return deserialize(data)
        except DecodeError:  # e.g. a string field that is not UTF-8: the caller's fault
            return UndecodableRequest()

    return bounded
