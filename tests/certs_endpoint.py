"""Google's public-key endpoints (``oauth2/v1/certs``, IAP's JWKS) as tests need them: one stand-in, answering
``document`` with ``Cache-Control`` and counting ``requests``. In process: ``client()`` (an ``httpx.MockTransport``);
for another process: ``served()`` (a real HTTP server on 127.0.0.1, yields the URL). It can be slowed (``delay``),
held (``hold()``/``release()``; ``fetching`` is set once a request came in) or broken in process (``fail_with``).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx


class CertsEndpoint:
    """Serves ``document`` (``{kid: PEM}`` or a JWKS) as Google's key URLs do; ``requests`` counts fetches."""

    def __init__(
        self, document: dict[str, Any], cache_control: str | None = "public, max-age=600", *, delay: float = 0.0
    ) -> None:
        self.document = document
        self.cache_control = cache_control
        self.delay = delay  # seconds each answer waits: concurrent callers overlap one fetch
        self.requests = 0
        self.paths: list[str] = []  # what was fetched over HTTP (served()), in order
        self.gate: asyncio.Event | None = None
        self.fetching = asyncio.Event()
        self.fail_with: Callable[[], httpx.Response] | None = None

    def _headers(self) -> dict[str, str]:
        return {"Cache-Control": self.cache_control} if self.cache_control else {}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.fetching.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            return self.fail_with()
        return httpx.Response(200, json=self.document, headers=self._headers())

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose every request this endpoint answers, in process."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def hold(self) -> None:
        """Answers wait from now on, until ``release()``."""
        self.gate = asyncio.Event()

    def release(self) -> None:
        assert self.gate is not None
        self.gate.set()

    @contextmanager
    def served(self, path: str = "/oauth2/v1/certs") -> Iterator[str]:
        """The endpoint on a real HTTP server on 127.0.0.1 (for other processes); yields its URL."""
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests += 1
                endpoint.paths.append(self.path)
                time.sleep(endpoint.delay)
                body = json.dumps(endpoint.document).encode()
                self.send_response(200)
                for name, value in {"Content-Type": "application/json", **endpoint._headers()}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}{path}"
        finally:
            server.shutdown()
            server.server_close()
