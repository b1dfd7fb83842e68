"""Requests built from a message descriptor with random and boundary values (X-5).

``RequestFuzzer.message(descriptor)`` fills a request of any RPC: every field is left
unset or given a value drawn from the edges that break services (empty, over-long and
NUL strings, integers at 2^31 and 2^63, unknown enum numbers, timestamps and durations
at and past their ranges, decimal strings that overflow), mixed with ids of resources
that exist, so that calls reach past the first validation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from google.protobuf import descriptor as descriptor_module
from google.protobuf import message_factory
from google.protobuf.message import Message

FieldDescriptor = descriptor_module.FieldDescriptor

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
INTEGERS = (0, 1, -1, 2, 7, 100, 101, 1000, INT32_MAX, -(2**31), INT64_MAX, -(2**63), 92233720368547759)
UINT_MAX = {FieldDescriptor.TYPE_UINT32: 2**32 - 1, FieldDescriptor.TYPE_UINT64: 2**64 - 1}
DECIMALS = (
    "0",
    "1",
    "-1",
    "3",
    "0.5",
    "999999999999",
    "999999999999999",
    "-999999999999999",
    "1e400",
    "1E-400",
    "NaN",
    "-Infinity",
    "0.0000000000001",
    "1" * 40,
    "12.",
    ".5",
    "+1",
    "١٢",
)
TEXT = ("a", "Jenny Rosen", "model", "customer_id", "value", "USD", "JPY", "é🙂", " ", "x-y_z.1")
LENGTHS = (99, 100, 101, 250, 251, 256, 2_700, 5_000)
# Timestamp seconds: 0001-01-01, the Unix epoch, 2026, 9999-12-31, and past both ends.
TIMESTAMP_SECONDS = (-62135596800, 0, 1767225600, 1798761600, 253402300799, -62135596801, 253402300800)
DURATION_SECONDS = (0, 1, -1, 3600, 72 * 3600, 72 * 3600 + 1, 315576000000, INT64_MAX, -(2**63))
NANOS = (0, 1, 999_999_999, 1_000_000_000, -1, -999_999_999)


class RequestFuzzer:
    """Random requests for any message type; ``known_ids`` are real resource ids."""

    def __init__(self, rng: random.Random, known_ids: Sequence[str] = ()) -> None:
        self.rng = rng
        self.known_ids = list(known_ids)

    def message(self, descriptor: descriptor_module.Descriptor, depth: int = 0) -> Message:
        built = message_factory.GetMessageClass(descriptor)()
        full_name = descriptor.full_name
        if full_name == "google.protobuf.Timestamp":
            built.seconds = self.rng.choice(TIMESTAMP_SECONDS) + self.rng.choice(
                (0, 0, 60, -3600, 86400 * 31)
            )
            built.nanos = self.rng.choice(NANOS)
            return built
        if full_name == "google.protobuf.Duration":
            built.seconds = self.rng.choice(DURATION_SECONDS)
            built.nanos = self.rng.choice(NANOS) if built.seconds >= 0 else -abs(self.rng.choice(NANOS))
            return built
        if full_name == "google.protobuf.FieldMask":
            built.paths.extend(self.rng.sample(self._mask_paths(), k=self.rng.randint(0, 2)))
            return built
        if full_name == "google.type.Decimal":
            built.value = self.rng.choice(DECIMALS)
            return built
        for field in descriptor.fields:
            if self.rng.random() < 0.45:
                continue
            if depth > 4 and field.type == FieldDescriptor.TYPE_MESSAGE:
                continue
            self._fill(built, field, depth)
        return built

    def _mask_paths(self) -> list[str]:
        return [
            "name",
            "display_name",
            "metadata",
            "expire_time",
            "email",
            "invoice_settings.grace_period",
            "x\x00",
        ]

    def _fill(self, built: Message, field: FieldDescriptor, depth: int) -> None:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entries = getattr(built, field.name)
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            for _ in range(self.rng.choice((0, 1, 2, 3, 60))):
                key = self._scalar(key_field)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    entries[key].CopyFrom(self.message(value_field.message_type, depth + 1))
                else:
                    entries[key] = self._scalar(value_field)
            return
        if field.is_repeated:
            values = getattr(built, field.name)
            for _ in range(self.rng.choice((0, 1, 2, 3, 21))):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    values.add().CopyFrom(self.message(field.message_type, depth + 1))
                else:
                    values.append(self._scalar(field))
            return
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(built, field.name).CopyFrom(self.message(field.message_type, depth + 1))
            return
        setattr(built, field.name, self._scalar(field))

    def _scalar(self, field: FieldDescriptor) -> object:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self._string(field.name)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.rng.choice((b"", b"\x00", b"x" * 5000))
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            numbers = [v.number for v in field.enum_type.values]
            return self.rng.choice([*numbers, *numbers, 999, -1])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice((0.0, -1.0, 1e308, float("nan")))
        if kind in UINT_MAX:
            return self.rng.choice((0, 1, UINT_MAX[kind]))
        bits32 = kind in (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SFIXED32,
        )
        value = self.rng.choice(INTEGERS)
        return max(-(2**31), min(INT32_MAX, value)) if bits32 else value

    def _string(self, name: str) -> str:
        roll = self.rng.random()
        if self.known_ids and (name.endswith("id") or name.endswith("ids")) and roll < 0.55:
            return self.rng.choice(self.known_ids)
        if name in ("value", "unit_amount_decimal") and roll < 0.5:
            return self.rng.choice(DECIMALS)
        if roll < 0.2:
            return ""
        if roll < 0.45:
            return self.rng.choice(TEXT)
        if roll < 0.6:
            return self.rng.choice((*self.known_ids, "x"))[:50] + "\x00" + "tail"
        if roll < 0.8:
            return "x" * self.rng.choice(LENGTHS)
        if roll < 0.9:
            return self.rng.choice(DECIMALS)
        return "".join(self.rng.choice("abc_-.:/\\'\"%é\u202e") for _ in range(self.rng.randint(1, 30)))
