"""The emulator's admin API and metadata server, and ``cloudgate proxy``: who can reach them and what a hostile
web page in the developer's browser can make them do (CSRF, DNS rebinding)."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from cloudgate.emulator.control.admin import admin_routes
from cloudgate.emulator.core.context import EmulatorContext
from tests.e2e.stack import EmulatorStack
from tests.security.conftest import PROXY_API_KEY, RunningProxy, recording_server
from tests.support import CLOUDGATE, clean_env, free_port

ADMIN = ["/admin/state", "/admin/counters", "/admin/settings", "/admin/faults"]


@pytest.mark.anyio
async def test_admin_api_refuses_non_local_clients(tmp_path: object) -> None:
    """Attack: reach the admin API from another machine (emulator started with a non-loopback host).
    Secure: 403 for every admin route and method, whatever X-Forwarded-For says. (In-process: a fake peer.)"""
    from pathlib import Path

    from starlette.applications import Starlette

    assert isinstance(tmp_path, Path)
    ctx = EmulatorContext.open(tmp_path / "state", "http://127.0.0.1:1")
    app = Starlette(routes=admin_routes(ctx))
    for peer in ("10.0.0.5", "192.168.1.20", "::ffff:8.8.8.8", "unknown"):
        transport = httpx.ASGITransport(app=app, client=(peer, 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            for path in ADMIN:
                response = await client.get(path, headers={"X-Forwarded-For": "127.0.0.1"})
                assert response.status_code == 403, (peer, path)
            rotate = await client.post("/admin/keys/rotate")
            assert rotate.status_code == 403
            faults = await client.post("/admin/faults", json={"count": 5, "status": 503})
            assert faults.status_code == 403
    assert ctx.faults.pending()["count"] == 0


@pytest.mark.e2e
def test_emulator_admin_refuses_forwarded_remote_address(emulator: EmulatorStack) -> None:
    """Attack: a local relay forwards a remote client with X-Forwarded-For. Secure: not treated as local (403)."""
    response = httpx.get(f"{emulator.emulator_url}/admin/state", headers={"X-Forwarded-For": "8.8.8.8"})
    assert response.status_code == 403


@pytest.mark.e2e
def test_metadata_needs_the_flavor_header(emulator: EmulatorStack) -> None:
    """Attack: fetch an ID token from the metadata server without Metadata-Flavor: Google (what a plain browser
    request or a naive SSRF sends). Secure: 403, no token."""
    url = f"{emulator.emulator_url}/computeMetadata/v1/instance/service-accounts/default/identity"
    response = httpx.get(url, params={"audience": emulator.url})
    assert response.status_code == 403
    assert "eyJ" not in response.text


@pytest.mark.e2e
def test_admin_refuses_cross_site_simple_posts(emulator: EmulatorStack) -> None:
    """Attack: a page on https://evil.example does fetch('http://127.0.0.1:8089/admin/faults', {method: 'POST',
    mode: 'no-cors', body: '{"count":1,"status":418}'}): a text/plain POST needs no CORS preflight.
    Secure: refused (403/415) and no fault set."""
    response = httpx.post(
        f"{emulator.emulator_url}/admin/faults",
        content=b'{"count": 1, "status": 418}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    pending = httpx.get(f"{emulator.emulator_url}/admin/faults").json()
    if pending.get("count"):
        httpx.post(f"{emulator.emulator_url}/admin/faults", json={"count": 0, "status": 503})
    assert response.status_code in (403, 415)
    assert not pending.get("count")


@pytest.mark.e2e
def test_emulator_refuses_foreign_host_headers(emulator: EmulatorStack) -> None:
    """Attack: DNS rebinding -- the browser talks to 127.0.0.1 but sends Host: attacker.example (same origin for the
    page, so it may add Metadata-Flavor and read answers). Secure: 4xx for a Host that is not a local name."""
    host = {"Host": "attacker.example:8089"}
    state = httpx.get(f"{emulator.emulator_url}/admin/state", headers=host)
    token = httpx.get(
        f"{emulator.emulator_url}/computeMetadata/v1/instance/service-accounts/default/identity",
        params={"audience": emulator.url},
        headers={**host, "Metadata-Flavor": "Google"},
    )
    assert state.status_code >= 400
    assert token.status_code >= 400
    assert "eyJ" not in token.text


# -- cloudgate proxy -----------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "127.0.0.2", "localhost.evil.example"])
def test_proxy_refuses_non_loopback_binding(host: str) -> None:
    """Attack (misuse): expose the proxy, and with it the developer's identity, to the network.
    Secure: refused with a non-zero exit before anything listens, unless --allow-remote."""
    result = subprocess.run(
        [CLOUDGATE, "proxy", "http://127.0.0.1:9", "--host", host, "--port", str(free_port())],
        env=clean_env(GCE_METADATA_IP="127.0.0.1:9"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"--allow-remote" in result.stdout + result.stderr


@pytest.mark.e2e
def test_proxy_keeps_requests_on_the_upstream_host(proxy: RunningProxy) -> None:
    """Attack: request targets such as '//other-host/x' or absolute-form to make the proxy send the token and API
    key to another host. Secure: the request goes to the upstream service (or is refused), never elsewhere."""
    import socket

    port = int(proxy.url.rsplit(":", 1)[1])
    with recording_server() as (other, hits):
        for target in (f"//127.0.0.1:{other}/x", f"http://127.0.0.1:{other}/x", f"@127.0.0.1:{other}/x"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            assert data.startswith(b"HTTP/1.1 "), data[:40]
    assert hits == []


@pytest.mark.e2e
def test_proxy_does_not_lend_identity_to_other_origins(proxy: RunningProxy) -> None:
    """Attack: a page on https://evil.example sends a no-cors text/plain POST to the local proxy. Secure: the
    request is refused, or forwarded without the ID token and API key."""
    response = httpx.post(
        f"{proxy.url}/echo",
        content=b"a,b\n1,2\n",
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    )
    if response.status_code == 200:
        seen = response.json()["headers"]
        assert "x-serverless-authorization" not in seen
        assert PROXY_API_KEY not in str(seen)
    else:
        assert response.status_code in (401, 403)


@pytest.mark.e2e
def test_proxy_refuses_foreign_host_headers(proxy: RunningProxy) -> None:
    """Attack: DNS rebinding -- same-origin requests to the proxy carrying Host: attacker.example:8081.
    Secure: 4xx (only 127.0.0.1/localhost/[::1] hosts are served)."""
    response = httpx.get(f"{proxy.url}/echo", headers={"Host": "attacker.example"})
    assert response.status_code >= 400
    assert "SIGNATURE_REMOVED" not in response.text


@pytest.mark.e2e
def test_proxy_same_origin_requests_still_work(proxy: RunningProxy) -> None:
    """Control: the proxy's own origin (the docs page's Try it out) gets the token."""
    response = httpx.get(f"{proxy.url}/echo", headers={"Origin": proxy.url})
    assert response.status_code == 200
    assert response.json()["headers"]["x-serverless-authorization"][0].endswith("SIGNATURE_REMOVED_BY_GOOGLE")
