"""HTTP header plumbing shared by the two proxies (the emulator's Cloud Run front end and ``cloudgate proxy``)
and the service's ASGI layer: which headers describe one connection, the declared body size, a ``Date``.

Headers here are ASGI's raw form, ``(name, value)`` byte pairs. This module is at the bottom of the house (it
imports nothing of ours), so the emulator and the client share it without importing each other.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable

RawHeaders = list[tuple[bytes, bytes]]

#: Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, so a proxy never passes them on.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def end_to_end(headers: Iterable[tuple[bytes, bytes]], drop: frozenset[bytes] = frozenset()) -> RawHeaders:
    """``headers`` without the hop-by-hop ones and ``drop`` (lowercase names), names lowercased as ASGI wants."""
    out: RawHeaders = []
    for name, value in headers:
        lower = name.lower()
        if lower not in HOP_BY_HOP and lower not in drop:
            out.append((lower, value))
    return out


def content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared ``Content-Length``, or ``None`` when there is none or it is not a plain number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def date_header() -> tuple[bytes, bytes]:
    """A ``Date`` for a proxy's own answers (the server adds none: forwarded answers keep the upstream's)."""
    return b"date", email.utils.formatdate(usegmt=True).encode()
