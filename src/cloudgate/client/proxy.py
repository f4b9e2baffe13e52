"""A local reverse proxy to a private Cloud Run service, so a browser can use it (``cloudgate proxy``).

Every request gets a valid ID token in ``X-Serverless-Authorization`` (cached, refreshed before expiry) and
goes upstream with the browser's own headers, ``Authorization`` (Basic for the docs) and ``Origin`` included.
``Host`` is not forwarded (Google's front end routes on it). Responses stream back as they arrive; redirects
to the upstream are rewritten to the proxy. Nothing here logs a header, so no token reaches a log line.

The proxy lends your identity to whoever can make a request to it, and a web page in your browser can. So it
answers 403, adds nothing and forwards nothing when:

- ``Host`` is not the proxy's own address (``127.0.0.1``, ``localhost`` or ``[::1]`` with its port, or the
  ``host`` it was bound to): after DNS rebinding a hostile page reaches 127.0.0.1 under its own name;
- ``Origin`` is present and is not the proxy's own origin, or ``Sec-Fetch-Site`` says ``cross-site``: a page
  on another site may send "simple" requests (a form POST, a no-cors fetch) without asking.

Same-origin requests keep working: the proxied docs page's module scripts and Swagger's "Try it out" send
``Origin`` set to the proxy's own origin (``gcloud run services proxy`` drops the token for any ``Origin``,
which breaks them: pedrodcsjostrom/adk-invoice-workshop#52).

Example::

    app = ProxyApp("https://svc-abc-uc.a.run.app", tokens=TokenProvider(), port=8081)
    uvicorn.run(app, host="127.0.0.1", port=8081, proxy_headers=False, date_header=False)
"""

from __future__ import annotations

import logging

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from cloudgate.client.auth import IdTokenAuth
from cloudgate.client.provider import TokenProvider
from cloudgate.client.responses import transport_failure
from cloudgate.errors import CloudgateError
from cloudgate.google import CLOUD_RUN_MAX_BYTES, SERVERLESS_AUTH_HEADER
from cloudgate.headers import date_header, end_to_end

logger = logging.getLogger(__name__)

#: Request headers not passed upstream besides the hop-by-hop ones: Google's front end routes on ``Host``, and
#: httpx sets ``Content-Length`` for the body it sends.
_NOT_FORWARDED = frozenset({b"host", b"content-length"})
#: Response headers not passed back besides the hop-by-hop ones (``Content-Length`` is kept: the body is unchanged).
_NOT_RETURNED = frozenset({b"host"})

#: Names that always mean this machine, as they appear in a ``Host`` header.
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def local_authorities(port: int, host: str = "127.0.0.1") -> frozenset[str]:
    """The ``host:port`` values a request to a proxy listening on ``host:port`` may carry in ``Host``."""
    names = {*_LOOPBACK_HOSTS}
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 - a wildcard is no name a browser sends
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name.lower()}:{port}" for name in names)


class ProxyApp:
    """An ASGI app forwarding every HTTP request to ``upstream`` with an ID token added."""

    def __init__(
        self,
        upstream: str,
        *,
        tokens: TokenProvider,
        audience: str | None = None,
        api_key: str | None = None,
        auth_header: str = SERVERLESS_AUTH_HEADER,
        timeout: float = 300.0,
        port: int = 8081,
        host: str = "127.0.0.1",
    ) -> None:
        self.upstream = httpx.URL(upstream.rstrip("/"))
        #: ``Host`` values served (where the proxy listens), and the origins of pages it serves itself.
        self.authorities = local_authorities(port, host)
        self.origins = frozenset(f"http://{authority}" for authority in self.authorities)
        self.auth = IdTokenAuth(
            tokens, audience=audience, api_key=api_key, header=auth_header, origin=str(self.upstream)
        )
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects followed (the browser does that), no environment proxies for a local hop.
            self._client = httpx.AsyncClient(auth=self.auth, timeout=self._timeout, follow_redirects=False)
        return self._client

    def refusal(self, scope: Scope) -> str | None:
        """Why a request may not borrow the caller's identity (``None``: it may), judged on its headers."""
        values: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            values.setdefault(name.lower(), []).append(value.decode("latin-1").strip().lower())
        hosts = values.get(b"host", [])
        if len(hosts) != 1 or hosts[0] not in self.authorities:
            return f"Host {', '.join(hosts) or '(none)'} is not this proxy's address"
        foreign = [origin for origin in values.get(b"origin", []) if origin not in self.origins]
        if foreign:
            return f"Origin {foreign[0]} is not this proxy's origin"
        if "cross-site" in values.get(b"sec-fetch-site", []):
            return "a cross-site request"
        return None

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.refusal(scope)
        if refused is not None:
            # The reason holds only the request's Host/Origin, never a credential.
            logger.warning("proxy refused %s %s: %s", scope["method"], scope["path"], refused)
            await _plain(403, f"cloudgate proxy: refused ({refused}); open it as {min(self.origins)}\n")(
                scope, receive, send
            )
            return
        body = await _read_body(receive)
        if body is None:
            await _plain(413, "request body over 32 MiB (Cloud Run's limit)")(scope, receive, send)
            return
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = self.upstream.copy_with(
            raw_path=self.upstream.raw_path.rstrip(b"/") + path + (b"?" + query if query else b"")
        )
        headers = end_to_end(scope["headers"], _NOT_FORWARDED)
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except CloudgateError as exc:
            logger.warning("proxy could not get an ID token: %s", exc)
            await _plain(502, f"cloudgate proxy: no ID token: {exc}")(scope, receive, send)
            return
        except httpx.HTTPError as exc:
            reason = transport_failure(exc)
            logger.warning("proxy could not reach %s: %s", self.upstream, reason)
            await _plain(502, f"cloudgate proxy: {self.upstream} unreachable ({reason})")(scope, receive, send)
            return
        try:
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": self._headers(response)}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    def _headers(self, response: httpx.Response) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        upstream = str(self.upstream)
        for name, value in end_to_end(response.headers.raw, _NOT_RETURNED):
            if name == b"location" and value.decode("latin-1").startswith(upstream):
                value = value[len(upstream) :] or b"/"
            out.append((name, value))
        return out


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (needed to replay it with a new token), or ``None`` if over Cloud Run's limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > CLOUD_RUN_MAX_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _plain(status: int, text: str) -> PlainTextResponse:
    """The proxy's own answer. uvicorn runs with ``date_header=False`` (the upstream's Date passes through), so it
    adds a ``Date`` itself."""
    response = PlainTextResponse(text, status)
    response.raw_headers.append(date_header())
    return response
