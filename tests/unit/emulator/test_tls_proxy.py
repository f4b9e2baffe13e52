"""The HTTPS proxy serves Google's API hosts from the emulator behind its own CA, and refuses every other host."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest
from anyio.streams.tls import TLSAttribute, TLSStream

from cloudgate.emulator.ca import EmulatorCA
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.server import google_app
from cloudgate.emulator.tls_proxy import TlsProxy, route

pytestmark = pytest.mark.anyio


@pytest.fixture
async def through_proxy(ctx: EmulatorContext, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client that trusts the emulator's CA and uses the proxy, as `gcloud-env`'s variables set up."""
    authority = EmulatorCA.open(tmp_path / "state")
    proxy = TlsProxy(google_app(ctx), authority.server_context())
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    verify = ssl.create_default_context(cafile=str(authority.cert_path))
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, proxy.handle)
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{port}", verify=verify) as client:
            yield client
        group.cancel_scope.cancel()
    await proxy.aclose()


async def test_googles_certs_url_is_served_by_the_emulator(through_proxy: httpx.AsyncClient) -> None:
    answer = await through_proxy.get("https://www.googleapis.com/oauth2/v3/certs")
    assert answer.status_code == 200 and answer.json()["keys"]


async def test_iam_credentials_answers_in_googles_shape(through_proxy: httpx.AsyncClient) -> None:
    url = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.c:generateIdToken"
    answer = await through_proxy.post(url, json={"audience": "x"})
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_another_host_is_refused_before_any_connection(through_proxy: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ProxyError, match="403"):
        await through_proxy.get("https://example.com/")


async def test_the_admin_api_is_not_reachable_through_a_google_host(through_proxy: httpx.AsyncClient) -> None:
    answer = await through_proxy.get("https://oauth2.googleapis.com/admin/state")
    assert answer.status_code == 404


def test_regional_run_hosts_carry_their_region() -> None:
    assert route("us-central1-run.googleapis.com") == ("/run", "us-central1")
    assert route("run.googleapis.com.evil.example") is None


async def test_iap_public_keys_are_served_at_googles_gstatic_url(through_proxy: httpx.AsyncClient) -> None:
    answer = await through_proxy.get("https://www.gstatic.com/iap/verify/public_key-jwk")
    assert answer.status_code == 200 and [k["alg"] for k in answer.json()["keys"]] == ["ES256"]


async def test_gstatic_serves_nothing_but_iap_keys(through_proxy: httpx.AsyncClient) -> None:
    answer = await through_proxy.get("https://www.gstatic.com/oauth2/v3/certs")
    assert answer.status_code == 404


async def _alpn_through(proxy: TlsProxy, host: str, cafile: Path) -> str | None:
    """The protocol a client offering h2 and HTTP/1.1 gets for ``host`` through ``proxy``."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, proxy.handle)
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
            assert (await stream.receive()).startswith(b"HTTP/1.1 200")
            context = ssl.create_default_context(cafile=str(cafile))
            context.set_alpn_protocols(["h2", "http/1.1"])
            tls = await TLSStream.wrap(stream, hostname=host, ssl_context=context, standard_compatible=False)
            chosen = tls.extra(TLSAttribute.alpn_protocol)  # noqa: S610 - anyio, not Django
            await tls.aclose()
        group.cancel_scope.cancel()
    return chosen


@pytest.mark.parametrize(
    ("host", "protocol"),
    [("secretmanager.googleapis.com", "h2"), ("oauth2.googleapis.com", "http/1.1"), ("iam.googleapis.com", "http/1.1")],
)
async def test_only_the_hosts_of_grpc_apis_offer_h2(
    ctx: EmulatorContext, tmp_path: Path, host: str, protocol: str
) -> None:
    """gRPC needs h2; a REST client that prefers h2 (Go's net/http, curl) keeps HTTP/1.1 on every other host."""
    authority = EmulatorCA.open(tmp_path / "state")
    never_started = 9  # the client closes right after the handshake: the tunnel is spliced to nothing
    proxy = TlsProxy(
        google_app(ctx), authority.server_context(), grpc_gateway=lambda: never_started,
        grpc_context=authority.server_context(),
    )  # fmt: skip
    assert await _alpn_through(proxy, host, authority.cert_path) == protocol
    await proxy.aclose()
