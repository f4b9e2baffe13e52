"""Logs that Cloud Logging understands: one JSON object per line on stdout.

Each line has ``severity``, ``message``, ``time`` and, inside a request, ``logging.googleapis.com/trace`` (built from
``X-Cloud-Trace-Context`` or ``traceparent``), so Cloud Logging groups a request's lines under its trace. The
access log line also carries ``httpRequest``. Entry points call ``configure_logging``; library code only uses
``logging.getLogger(__name__)``.

A request's path or headers cannot forge a line: JSON escapes control characters, and the text format escapes
them too (``cloudgate.log_lines``). As a last line of defence the formatter masks anything shaped like a cloudgate API key or a JWT, though no code
logs one on purpose.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from cloudgate.log_lines import OneLineFormatter

#: Trace fields of the request being served, set by the middleware, read by the formatter.
trace_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("cloudgate_trace", default=None)

_SECRET_SHAPES = re.compile(
    r"cgk_[0-9a-f]{16}_[A-Za-z0-9_\-]+"  # cloudgate API keys
    r"|eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"  # JWTs
    r"|\$argon2[a-z]*\$[^\s\"']+"  # password hashes
)
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
#: ``extra={...}`` keys copied to the top level of the JSON line.
_PASSTHROUGH = ("httpRequest", "principal", "event", "logging.googleapis.com/labels")


def redact(text: str) -> str:
    """Mask API keys, JWTs and password hashes in a string."""
    return _SECRET_SHAPES.sub("[REDACTED]", text)


def parse_trace(cloud_trace: str | None, traceparent: str | None, project_id: str | None) -> dict[str, Any] | None:
    """Cloud Logging trace fields from ``X-Cloud-Trace-Context: TRACE/SPAN;o=1`` or W3C ``traceparent``."""
    trace_id = span_id = None
    sampled = False
    if cloud_trace:
        head, _, options = cloud_trace.partition(";")
        trace_id, _, span_id = head.partition("/")
        sampled = options.strip() == "o=1"
    elif traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id, span_id, sampled = parts[1], parts[2], parts[3] == "01"
    if not trace_id or not re.fullmatch(r"[0-9a-fA-F]{1,64}", trace_id):
        return None
    fields: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project_id}/traces/{trace_id}" if project_id else trace_id,
        "logging.googleapis.com/trace_sampled": sampled,
    }
    if span_id and span_id.isalnum():
        fields["logging.googleapis.com/spanId"] = span_id
    return fields


class CloudLoggingFormatter(logging.Formatter):
    """Formats records as Cloud Logging structured JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["message"] += "\n" + redact(self.formatException(record.exc_info))
        for key in _PASSTHROUGH:
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        # The access log passes its request's trace along (``extra={"trace": ...}``), so the line keeps it even when
        # a handler formats it later, outside the request; other lines inside a request get it from the context.
        trace = record.__dict__.get("trace") or trace_context.get()
        if trace:
            entry.update(trace)
        return json.dumps(entry, default=str)


class TextFormatter(OneLineFormatter):
    """Readable lines for a terminal, with the same redaction; one record is one line (``log_lines``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every log line (ours, uvicorn's, the app's) to stdout in one format. Entry points call this."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The middleware writes the access log (with httpRequest and the principal); uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
