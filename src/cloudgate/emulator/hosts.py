"""Which ``Host`` and ``Origin`` headers the emulator's Google endpoints accept: loopback names only.

The emulator listens on 127.0.0.1, but a web page can still reach it through DNS rebinding: a name the
attacker controls first resolves to their server, then to 127.0.0.1, and the browser treats answers from
the emulator as same-origin (readable, with custom headers such as ``Metadata-Flavor``). The ``Host``
header still carries the attacker's name, so refusing every name but a loopback one (or the address the
emulator was told to bind) closes that door. google-auth and gcloud send ``Host: 127.0.0.1:PORT``, the
host of the token URI or metadata address they were given.

Example::

    app = LocalHostGuard(Starlette(routes=...), extra_names={"192.0.2.7"})
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

#: Names that always mean this machine (``[::1]`` is written without brackets here).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def host_name(host: str) -> str:
    """The name part of a ``Host`` header or URL authority, lowercased, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_local_host(host: str | None, extra_names: Iterable[str] = ()) -> bool:
    """Whether a ``Host`` header names this machine: a loopback name, or one of ``extra_names``."""
    if not host:
        return False  # HTTP/1.1 requires Host; a browser always sends one
    return host_name(host) in LOOPBACK_NAMES | {name.lower() for name in extra_names}


class LocalHostGuard:
    """ASGI middleware: 403 (plain text) for HTTP requests whose ``Host`` is not a local name."""

    def __init__(self, app: Any, *, extra_names: Iterable[str] = ()) -> None:
        self.app = app
        self.extra_names = frozenset(name.lower() for name in extra_names)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), None)
        if is_local_host(host, self.extra_names):
            await self.app(scope, receive, send)
            return
        logger.warning("refused %s %s: Host %r is not a local name", scope["method"], scope["path"], host)
        body = b"the emulator answers only requests to 127.0.0.1, localhost or [::1]\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
