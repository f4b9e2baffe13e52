"""Cloud Logging JSON lines: severity, trace fields, redaction."""

from __future__ import annotations

import json
import logging

from cloudgate.service.logs import CloudLoggingFormatter, parse_trace, redact, trace_context


def _format(message: str, *args: object, level: int = logging.WARNING) -> dict[str, object]:
    record = logging.LogRecord("x", level, __file__, 1, message, args, None)
    return json.loads(CloudLoggingFormatter().format(record))


def test_line_has_severity_message_and_time() -> None:
    line = _format("hello %s", "world")
    assert line["severity"] == "WARNING"
    assert line["message"] == "hello world"
    assert str(line["time"]).endswith("+00:00")


def test_trace_from_cloud_trace_context_names_the_project() -> None:
    fields = parse_trace("105445aa7843bc8bf206b12000100000/1;o=1", None, "my-proj")
    assert fields == {
        "logging.googleapis.com/trace": "projects/my-proj/traces/105445aa7843bc8bf206b12000100000",
        "logging.googleapis.com/trace_sampled": True,
        "logging.googleapis.com/spanId": "1",
    }


def test_trace_from_traceparent() -> None:
    fields = parse_trace(None, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None)
    assert fields is not None
    assert fields["logging.googleapis.com/trace"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert fields["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"


def test_garbage_trace_header_is_ignored() -> None:
    assert parse_trace("not a trace!/x", None, "p") is None
    assert parse_trace(None, "junk", "p") is None


def test_lines_inside_a_request_carry_its_trace() -> None:
    token = trace_context.set(parse_trace("abc123/9;o=0", None, None))
    try:
        line = _format("inside")
    finally:
        trace_context.reset(token)
    assert line["logging.googleapis.com/trace"] == "abc123"


def test_api_keys_jwts_and_hashes_are_masked() -> None:
    key = "cgk_0123456789abcdef_" + "s" * 43
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    text = f"oops {key} and {jwt} and $argon2id$v=19$m=65536,t=3,p=4$abc$def"
    masked = redact(text)
    assert key not in masked and jwt not in masked and "argon2id$" not in masked
    assert masked.count("[REDACTED]") == 3
