"""One log record, one line: text logs escape what a request could use to forge lines.

A request path reaches the application percent-decoded (``/a%0d%0a...`` arrives as ``/a\\r\\n...``), and
several log lines name the path, a host or a header. In a text log a CR or LF there would start a new line that
looks like one of ours. Every text formatter of cloudgate's processes (``cloudgate serve --log-format text``,
the emulator, ``cloudgate dev``, ``cloudgate proxy``) escapes control characters in the message, and marks the
lines of a traceback as continuation lines, so a line that does not start a record never looks like one that does.
JSON lines need nothing more: ``json.dumps`` escapes every control character.

This module is at the bottom of the house: service, emulator and client use it, and it imports nothing of ours.

Example (CR and LF become the four characters ``\\x0d`` and ``\\x0a``)::

    one_line("GET /a\\r\\n12:00:00 INFO forged")   # -> GET /a\\x0d\\x0a12:00:00 INFO forged
"""

from __future__ import annotations

import logging
import sys

#: C0 controls (CR, LF, tab, ESC ...), DEL, C1 controls (NEL ...) and Unicode's line and paragraph separators.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
#: What starts each further line of a traceback: it cannot be mistaken for the start of a record.
CONTINUATION = "\n    | "


def one_line(text: str) -> str:
    """``text`` with every control character written as an escape, so it stays on one line."""
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose records cannot forge lines: escaped messages, marked traceback lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        # Only a traceback or stack can still hold a newline here; its lines are ours, but not its messages.
        return super().format(record).replace("\r", "\\x0d").replace("\n", CONTINUATION)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_text_logging(level: int = logging.INFO, fmt: str = TEXT_FORMAT) -> None:
    """Log every record of the process to stderr as one-line text (what the emulator and the CLI tools use)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
