"""Structured logging (structlog): human-readable on a terminal, JSON lines in production.

With the ``json`` format every line a serving process writes is a JSON object: structlog's
own, the standard library's (alembic, gRPC, psycopg, OpenTelemetry, warnings), which go
through the same renderer, and the line saying where a server listens. A line logged
while a call is traced carries its ``trace_id`` and ``span_id`` (O-4).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import structlog
from opentelemetry import trace

LISTENING = "listening"


def add_trace_context(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """The current span's trace and span ids, when a call is traced (O-4)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    renderer = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # a Python warning is a log line too, JSON with the rest
    # Alembic narrates every step at INFO; an operator needs only its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def listening_line(service: str, address: str, fmt: str, *, http_address: str | None = None) -> str:
    """The line a server writes to stdout once it serves, which supervisors wait for:
    ``<service> listening on <address>`` (and ``(gRPC) and <http address> (HTTP/JSON)``
    when it serves HTTP too, O-5), or in the json format an object with event
    ``listening``."""
    if fmt != "json":
        http = f" (gRPC) and {http_address} (HTTP/JSON)" if http_address else ""
        return f"{service} listening on {address}{http}\n"
    line = {
        "event": LISTENING,
        "service": service,
        "address": address,
        **({"http_address": http_address} if http_address else {}),
        "level": "info",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(line) + "\n"


def listening_address(line: str | bytes) -> str | None:
    """The address in a ``listening_line`` of either format; None for any other line."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if isinstance(record, dict) and record.get("event") == LISTENING:
            return str(record.get("address"))
        return None
    _, found, addresses = text.partition(" listening on ")
    return (addresses.split()[0] if addresses else None) if found else None
