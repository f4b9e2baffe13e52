"""An HTTPS proxy that answers for Google's API hosts, so Google's client libraries reach the emulator unmodified.

google-auth, ``requests`` and the Google client libraries call fixed ``https://*.googleapis.com`` URLs
(``impersonated_credentials`` calls ``https://iamcredentials.googleapis.com``). With ``HTTPS_PROXY`` pointing
here and the emulator's CA trusted (``ca.py``), they open ``CONNECT host:443``; for a host the emulator serves,
the proxy answers ``200``, terminates TLS with a ``*.googleapis.com`` certificate of that CA, and serves each
request from Google's side of the emulator (the same ASGI app, under the API's prefix). Any other host is refused
with ``403`` before a byte leaves the machine: nothing reaches Google.

gRPC clients (``google-cloud-*`` libraries by default; gRPC's C core honours ``grpc_proxy``/``https_proxy`` and
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``) negotiate ALPN ``h2`` in the same TLS handshake: given a gRPC gateway
(``grpc_gateway.py``, started by ``GatewayStarter`` on the first such tunnel: grpcio and the client libraries
take about a second to import, which an emulator that never meets a gRPC client should not pay), the proxy
offers ``h2`` on the hosts of the APIs the gateway serves (``GRPC_HOSTS``) and splices those tunnels to it;
HTTP/1.1 clients (requests, gcloud, google-auth) are served as before. Every other host, and every host without
a gateway, offers only ``http/1.1``.

Hosts served (``SERVED_HOSTS``): ``oauth2`` and ``www`` (token endpoint and certs), ``iamcredentials``, ``iam``,
``run`` (and the regional ``REGION-run``), ``secretmanager``, ``cloudresourcemanager``, ``sts``, ``iap``, and
``www.gstatic.com`` for IAP's public keys (``/iap/verify/...`` only).

Example::

    authority = EmulatorCA.open(state_dir)
    gateway = GatewayStarter("http://127.0.0.1:8089")   # grpc_gateway.py: gRPC calls -> the REST handlers
    proxy = TlsProxy(google_app(ctx), authority.server_context(), grpc_gateway=gateway,
                     grpc_context=authority.server_context())
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    await listener.serve(proxy.handle)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import re
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import h11
import httpx
from anyio.streams.tls import TLSAttribute, TLSStream

logger = logging.getLogger(__name__)

#: Google host -> the prefix its API has on the emulator's Google side.
SERVED_HOSTS = {
    "oauth2.googleapis.com": "",
    "www.googleapis.com": "",
    "iamcredentials.googleapis.com": "/iamcredentials",
    "iam.googleapis.com": "/iam",
    "run.googleapis.com": "/run",
    "secretmanager.googleapis.com": "/secretmanager",
    "cloudresourcemanager.googleapis.com": "/cloudresourcemanager",
    "sts.googleapis.com": "/sts",
    "iap.googleapis.com": "/iap",
    # IAP's public keys (https://www.gstatic.com/iap/verify/public_key-jwk): only those paths (``_UNPREFIXED_PATHS``).
    "www.gstatic.com": "",
}
#: The hosts of the gRPC services the gateway serves (``grpc_gateway.APIS``): only they offer ALPN ``h2``.
GRPC_HOSTS = frozenset({"secretmanager.googleapis.com", "run.googleapis.com"})
#: On the unprefixed hosts only these paths are Google's (never the admin API): the token endpoint and the
#: certificates on Google's API hosts, IAP's public keys on www.gstatic.com.
_GOOGLE_PATHS = ("/token", "/oauth2/")
_UNPREFIXED_PATHS = {"www.gstatic.com": ("/iap/verify/",)}
_REGIONAL_RUN = re.compile(r"^([a-z]+-[a-z]+[0-9]+)-run\.googleapis\.com$")
_MAX_HEAD = 16 * 1024
_MAX_BODY = 8 * 1024 * 1024
_IDLE_S = 60
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)
PROXY_FILE = "proxy.json"


def route(host: str) -> tuple[str, str | None] | None:
    """``(prefix, region)`` for a host the proxy serves (``us-central1-run.googleapis.com``: ``("/run",
    "us-central1")``), ``None`` for any other."""
    name = host.strip().lower()
    if name in SERVED_HOSTS:
        return SERVED_HOSTS[name], None
    match = _REGIONAL_RUN.match(name)
    return ("/run", match.group(1)) if match else None


class TlsProxy:
    """Serves ``CONNECT`` tunnels to Google's API hosts from ``app`` (the emulator's Google side)."""

    def __init__(
        self,
        app: Any,
        context: ssl.SSLContext,
        *,
        grpc_gateway: Callable[[], int] | None = None,
        grpc_context: ssl.SSLContext | None = None,
    ) -> None:
        """``context`` serves HTTP/1.1; with a gateway, ``grpc_context`` (another context of the same CA) serves
        ``GRPC_HOSTS`` offering ``h2`` too. Other hosts never offer ``h2``: a REST client that would pick it
        (Go's net/http, curl) keeps HTTP/1.1 there."""
        self._context = context
        self._grpc_gateway = grpc_gateway if grpc_context is not None else None
        self._grpc_context = grpc_context
        if grpc_context is not None:
            grpc_context.set_alpn_protocols(["h2", "http/1.1"])
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 0)), base_url="http://127.0.0.1", timeout=60
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def handle(self, client: anyio.abc.ByteStream) -> None:
        """One client connection: the ``CONNECT``, then HTTP/1.1 requests inside the tunnel until it closes."""
        async with client:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                with anyio.move_on_after(_IDLE_S):
                    head = await _read_head(client)
                if head is None:
                    return
                target = _connect_target(head)
                served = route(target[0]) if target is not None and target[1] == "443" else None
                if target is None or served is None:
                    await client.send(_refusal(head))
                    return
                await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                grpc = self._grpc_context is not None and target[0].lower() in GRPC_HOSTS
                context = self._grpc_context if grpc and self._grpc_context is not None else self._context
                tls = await TLSStream.wrap(client, server_side=True, ssl_context=context, standard_compatible=False)
                if tls.extra(TLSAttribute.alpn_protocol, None) == "h2" and self._grpc_gateway is not None:  # noqa: S610
                    port = await self._gateway_port()
                    if port is not None:
                        await _splice(tls, port)
                else:
                    await self._serve(tls, *served, paths=_UNPREFIXED_PATHS.get(target[0].lower(), _GOOGLE_PATHS))

    async def _gateway_port(self) -> int | None:
        """The gRPC gateway's port, started on first use; ``None`` (the tunnel closes) if it cannot start."""
        assert self._grpc_gateway is not None
        try:
            return await anyio.to_thread.run_sync(self._grpc_gateway)
        except Exception:
            logger.exception("the gRPC gateway could not start: this gRPC client's tunnel is closed")
            return None

    async def _serve(
        self, stream: anyio.abc.ByteStream, prefix: str, region: str | None, *, paths: tuple[str, ...]
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        host = f"{region}-127.0.0.1" if region else "127.0.0.1"
        while True:
            with anyio.move_on_after(_IDLE_S):
                request = await _next(conn, stream)
            if not isinstance(request, h11.Request):
                return
            body = bytearray()
            while True:
                event = await _next(conn, stream)
                if isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > _MAX_BODY:
                        await _send(conn, stream, 413, [], b"request body too large for the emulator\n")
                        return
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return
            status, headers, content = await self._answer(request, bytes(body), prefix, host, paths)
            await _send(conn, stream, status, headers, content)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    async def _answer(
        self, request: h11.Request, body: bytes, prefix: str, host: str, paths: tuple[str, ...]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path = request.target.decode("latin-1")
        if not path.startswith("/") or "/../" in path or (not prefix and not path.startswith(paths)):
            return 404, [(b"content-type", b"text/plain")], b"not an API path the emulator serves\n"
        headers = [(n, v) for n, v in request.headers if n.lower() not in _HOP_BY_HOP]
        headers.append((b"host", host.encode()))
        answer = await self._client.request(
            request.method.decode("ascii"), prefix + path, headers=headers, content=body
        )
        kept = [(n, v) for n, v in answer.headers.raw if n.lower() not in _HOP_BY_HOP]
        return answer.status_code, kept, answer.content


class GatewayStarter:
    """Starts the gRPC gateway once, when first called (from a worker thread: it imports grpcio); returns its port.

    ``available`` says whether it can (grpcio is installed: the ``emulator`` extra); ``stop`` stops it if started.
    """

    def __init__(self, emulator_url: str) -> None:
        self._url = emulator_url
        self._lock = threading.Lock()
        self._gateway: Any = None
        self._port = 0
        self.available = importlib.util.find_spec("grpc") is not None

    def __call__(self) -> int:
        with self._lock:
            if self._gateway is None:
                from cloudgate.emulator.grpc_gateway import GrpcGateway

                self._gateway = GrpcGateway(self._url)
                self._port = self._gateway.start()
                logger.info("gRPC gateway started on 127.0.0.1:%d", self._port)
            return self._port

    def stop(self) -> None:
        with self._lock:
            if self._gateway is not None:
                self._gateway.stop()


async def _splice(client: anyio.abc.ByteStream, port: int) -> None:
    """Copy an h2 tunnel's bytes both ways between the client and the gRPC gateway, until either side closes."""
    async with await anyio.connect_tcp("127.0.0.1", port) as upstream, anyio.create_task_group() as group:

        async def copy(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, ssl.SSLError, OSError):
                async for chunk in source:
                    await sink.send(chunk)
            group.cancel_scope.cancel()

        group.start_soon(copy, client, upstream)
        group.start_soon(copy, upstream, client)


async def _read_head(stream: anyio.abc.ByteStream) -> bytes | None:
    """The request head up to its blank line (``None`` when too long or cut off)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None
        try:
            data += await stream.receive(4096)
        except anyio.EndOfStream:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    return head if not rest else None  # a client speaks TLS only after the 200


def _connect_target(head: bytes) -> tuple[str, str] | None:
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"CONNECT":
        return None
    host, _, port = parts[1].decode("latin-1").rpartition(":")
    return (host, port) if host else None


def _refusal(head: bytes) -> bytes:
    line = head.split(b"\r\n", 1)[0][:200].decode("latin-1", "replace")
    logger.warning("TLS proxy refused %r: not a Google API host the emulator serves", line)
    message = (
        "Refused by the cloudgate emulator's proxy: it answers only CONNECT to the Google API hosts it emulates "
        f"({', '.join(sorted(SERVED_HOSTS))}, REGION-run.googleapis.com) on port 443; nothing reaches Google.\n"
    ).encode()
    return (
        b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
        % (
            len(message),
            message,
        )
    )


async def _next(conn: h11.Connection, stream: anyio.abc.ByteStream) -> Any:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        conn.receive_data(data)


async def _send(
    conn: h11.Connection, stream: anyio.abc.ByteStream, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    response = h11.Response(status_code=status, headers=[*headers, (b"content-length", str(len(body)).encode())])
    for event in (response, h11.Data(data=body), h11.EndOfMessage()):
        data = conn.send(event)
        if data:
            await stream.send(data)


def write_proxy_address(state_dir: Path, url: str) -> None:
    """Record where the running emulator's HTTPS proxy listens (``gcloud-env`` prints it as ``HTTPS_PROXY``)."""
    (state_dir / PROXY_FILE).write_text(json.dumps({"url": url}) + "\n", encoding="utf-8")


def read_proxy_address(state_dir: Path) -> str | None:
    try:
        return str(json.loads((state_dir / PROXY_FILE).read_text(encoding="utf-8"))["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_proxy_address(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / PROXY_FILE).unlink()
