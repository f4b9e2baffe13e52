"""``cloudgate proxy`` as a real process in front of the emulator's front end: tokens on every request (Origin
included), the browser's own headers kept, streamed responses, loopback only, and no token in its logs."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.stack import EmulatorStack
from tests.support import CLOUDGATE, clean_env, free_port, start_process, stop_process, wait_for_port

pytestmark = pytest.mark.e2e


@dataclass
class RunningProxy:
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def proxy(emulator_stack: EmulatorStack) -> Iterator[RunningProxy]:
    port = free_port()
    argv = [
        CLOUDGATE,
        "proxy",
        emulator_stack.url,
        "--port",
        str(port),
        "--credentials",
        str(emulator_stack.invoker_key),
    ]
    env = clean_env(GCE_METADATA_IP="127.0.0.1:9", CLOUDSDK_CORE_CHECK_GCE_METADATA="false")
    proc = start_process(argv, env=env)
    wait_for_port(port, proc=proc)
    running = RunningProxy(f"http://127.0.0.1:{port}", proc)
    yield running
    log = stop_process(proc)
    # The token that reached the service has its payload in clear; it must not be in the proxy's output.
    assert ' HTTP/1.1" ' in log, log  # the access log is there (whichever of this module's tests ran)...
    assert "eyJ" not in log, "a JWT reached the proxy's log"  # ...and no token in it


def test_requests_with_origin_get_a_token_and_keep_their_headers(proxy: RunningProxy) -> None:
    response = httpx.get(
        f"{proxy.url}/echo?x=1",
        headers={"Origin": proxy.url, "Authorization": "Basic dTpw", "Sec-Fetch-Mode": "cors"},
    )
    assert response.status_code == 200
    headers = response.json()["headers"]
    assert headers["origin"] == [proxy.url]
    assert headers["authorization"] == ["Basic dTpw"]
    assert headers["x-serverless-authorization"][0].endswith("SIGNATURE_REMOVED_BY_GOOGLE")
    assert response.json()["query"] == "x=1"


def test_the_host_header_is_the_services_not_the_proxys(proxy: RunningProxy, emulator_stack: EmulatorStack) -> None:
    headers = httpx.get(f"{proxy.url}/echo").json()["headers"]
    assert headers["host"] == [emulator_stack.url.removeprefix("http://")]


def test_post_bodies_pass_through(proxy: RunningProxy) -> None:
    response = httpx.post(f"{proxy.url}/echo", content=b"z" * 100_000, headers={"Origin": proxy.url})
    assert response.json()["body_bytes"] == 100_000 and response.json()["method"] == "POST"


def test_responses_stream_as_they_arrive(proxy: RunningProxy) -> None:
    """The first chunk arrives while the service still holds back the second (10 s later); the stream is left early."""
    started = time.monotonic()
    with httpx.stream("GET", f"{proxy.url}/stream", params={"bytes": 2, "chunk": 1, "interval": 10}) as response:
        first = next(response.iter_raw())
        first_at = time.monotonic() - started
    assert first == b"x" and first_at < 10


def test_a_streamed_body_over_32_mib(proxy: RunningProxy) -> None:
    size = 40 * 1024 * 1024
    total = 0
    with httpx.stream("GET", f"{proxy.url}/stream", params={"bytes": size}, timeout=60) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            total += len(chunk)
    assert total == size


def test_the_proxy_refuses_a_public_address_without_allow_remote(emulator_stack: EmulatorStack) -> None:
    done = subprocess.run(
        [CLOUDGATE, "proxy", emulator_stack.url, "--host", "0.0.0.0", "--credentials", str(emulator_stack.invoker_key)],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 2 and "--allow-remote" in done.stderr


def test_the_proxy_adds_no_headers_of_its_own(proxy: RunningProxy, emulator_stack: EmulatorStack) -> None:
    """Date and Server come from upstream only: the proxy's uvicorn adds neither."""
    from cloudgate.client import Client

    through = httpx.get(f"{proxy.url}/health")
    with Client(emulator_stack.url, credentials=emulator_stack.invoker_key) as client:
        direct = client.get("/health")
    for name in ("date", "server"):
        assert len(through.headers.get_list(name)) == len(direct.headers.get_list(name))
    assert len(through.headers.get_list("date")) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another local server's page
        {"Sec-Fetch-Site": "cross-site"},  # a link or form on another site (no Origin on a GET navigation)
        {"Host": "attacker.example:8081"},  # DNS rebinding
        {"Host": "127.0.0.1:1"},
    ],
)
def test_requests_from_other_sites_or_hosts_get_403_and_no_identity(
    proxy: RunningProxy, emulator_stack: EmulatorStack, headers: dict[str, str]
) -> None:
    """Nothing is forwarded (the front end counts nothing) and the answer is a short plain-text 403."""
    before = emulator_stack.counters()["frontend_forwarded"]
    response = httpx.post(f"{proxy.url}/echo", content=b"a,b\n", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("cloudgate proxy: refused") and len(response.text) < 200
    assert emulator_stack.counters()["frontend_forwarded"] == before


def test_loopback_names_and_the_own_origin_are_served(proxy: RunningProxy) -> None:
    port = proxy.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        origin = f"http://{host}"
        headers = {"Host": host, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
        response = httpx.get(f"{proxy.url}/echo", headers=headers)
        assert response.status_code == 200, host
        assert response.json()["headers"]["x-serverless-authorization"][0].endswith("SIGNATURE_REMOVED_BY_GOOGLE")


def test_a_taken_port_is_a_one_line_error_naming_the_flag(emulator_stack: EmulatorStack) -> None:
    """Checked before credentials and before the "proxying" banner: exit 2, no uvicorn Errno 98 traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [CLOUDGATE, "proxy", emulator_stack.url, "--port", str(port)]
        argv += ["--credentials", str(emulator_stack.invoker_key)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=clean_env(), check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another port with --port)"
    ]
