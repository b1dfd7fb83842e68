"""The line a server writes when it listens, in both log formats, and the trace ids a
log line carries (O-4)."""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from drawdown.logs import add_trace_context, listening_address, listening_line


def test_the_listening_line_reads_back_in_either_format_o4() -> None:
    console = listening_line("credits", "127.0.0.1:50052", "console")
    assert console == "credits listening on 127.0.0.1:50052\n"
    as_json = listening_line("credits", "127.0.0.1:50052", "json")
    record = json.loads(as_json)
    assert (record["event"], record["service"], record["address"]) == (
        "listening",
        "credits",
        "127.0.0.1:50052",
    )
    assert as_json.endswith("}\n") and as_json.count("\n") == 1  # one line, written at once
    for line in (console, as_json, as_json.encode()):
        assert listening_address(line) == "127.0.0.1:50052"


def test_other_lines_are_not_listening_lines_o4() -> None:
    for line in ('{"event": "rpc", "address": "x"}', "{not json", "server.started", "", '["listening"]'):
        assert listening_address(line) is None


def test_a_line_logged_in_a_traced_call_carries_its_ids_o4() -> None:
    assert add_trace_context(None, "info", {"event": "rpc"}) == {"event": "rpc"}
    context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(context)):
        event = add_trace_context(None, "info", {"event": "rpc"})
    assert event["trace_id"] == f"{0xABC:032x}" and event["span_id"] == f"{0xDEF:016x}"
