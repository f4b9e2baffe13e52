"""One record, one line: the text formatter escapes what could end a line and marks traceback lines."""

from __future__ import annotations

import logging

import pytest

from cloudgate.log_lines import CONTINUATION, OneLineFormatter, one_line


@pytest.mark.parametrize("char", ["\r", "\n", "\x0b", "\x0c", "\x1b", "\x00", "\x7f", "\x85", "\u2028", "\u2029"])
def test_one_line_escapes_every_character_that_could_break_or_dress_a_line(char: str) -> None:
    escaped = one_line(f"a{char}b")
    assert len(escaped.splitlines()) == 1 and escaped.isprintable() and escaped.startswith("a\\")


def test_printable_text_is_unchanged() -> None:
    assert one_line("GET /v1/datasets/zoë?x=1 200") == "GET /v1/datasets/zoë?x=1 200"


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\nFORGED INFO line")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_message_with_line_breaks_stays_one_line() -> None:
    text = OneLineFormatter("%(levelname)s %(message)s").format(_record("GET %s 404", "/x\r\nFORGED INFO"))
    assert text == "INFO GET /x\\x0d\\x0aFORGED INFO 404"


def test_traceback_lines_are_marked_as_continuations() -> None:
    text = OneLineFormatter("%(levelname)s %(message)s").format(_record("failed", exc=True))
    first, *rest = text.split("\n")
    assert first == "INFO failed" and rest and all(("\n" + line).startswith(CONTINUATION) for line in rest)
