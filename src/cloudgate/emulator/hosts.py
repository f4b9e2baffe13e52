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

import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

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


#: gcloud prefixes the region to a Cloud Run endpoint's host: ``us-central1-127.0.0.1:8089``.
_REGIONAL = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-(.+)$")


def split_region(host: str) -> tuple[str | None, str]:
    """``("us-central1", "127.0.0.1:8089")`` for gcloud's regional host, ``(None, host)`` otherwise."""
    match = _REGIONAL.match(host.strip().lower())
    return (match.group(1), match.group(2)) if match else (None, host)


class LocalHostGuard:
    """ASGI middleware: only requests for this machine reach Google's side; proxy requests are unwrapped.

    - ``Host`` (or, for a request sent to the emulator as gcloud's HTTP proxy, the authority of the absolute
      request target) must be a local name, optionally with gcloud's region prefix (``us-central1-127.0.0.1``);
      the region goes into the scope as ``cloudgate.region`` and the path becomes the target's path.
    - Anything else gets ``421 Misdirected Request`` with a JSON body in Google's error shape that says the
      emulator's Host guard refused it: gcloud then prints that reason, not an IAM-looking ``403``.
    """

    def __init__(self, app: Any, *, extra_names: Iterable[str] = ()) -> None:
        self.app = app
        self.extra_names = frozenset(name.lower() for name in extra_names)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), None)
        path: str = scope["path"]
        if path.startswith(("http://", "https://")):
            # Absolute-form (RFC 9112 3.2.2): a client using the emulator as its HTTP proxy (h11 keeps it whole).
            target = urlsplit(path)
            host = target.netloc
            raw = scope.get("raw_path") or path.encode()
            raw_target = urlsplit(raw.decode("latin-1"))
            scope = {**scope, "path": target.path or "/", "raw_path": (raw_target.path or "/").encode("latin-1")}
        region, local = split_region(host or "")
        if host and is_local_host(local, self.extra_names):
            if region is not None:
                scope = {**scope, "cloudgate.region": region}
            await self.app(scope, receive, send)
            return
        logger.warning("refused %s %s: Host %r is not a local name", scope["method"], scope["path"], host)
        message = (
            f"Refused by the cloudgate emulator's Host guard (not an IAM decision): the request is for {host!r}, "
            "and the emulator answers only requests for 127.0.0.1, localhost or [::1] (gcloud's regional form "
            "REGION-127.0.0.1 included), so that a web page cannot reach it through DNS rebinding. Point gcloud "
            "at the emulator with `cloudgate emulator gcloud-env`."
        )
        body = json.dumps({"error": {"code": 421, "message": message, "status": "FAILED_PRECONDITION"}}).encode()
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 421, "headers": headers})
        await send({"type": "http.response.body", "body": body})
