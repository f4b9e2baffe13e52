"""``cloudgate proxy`` as a real process in front of the emulator's front end: tokens on every request (Origin
included), the browser's own headers kept, streamed responses, loopback only, and no token in its logs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.stack import EmulatorStack, clean_env
from tests.support import CLOUDGATE, free_port, stop_process, wait_for_port

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
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, proc=proc)
    running = RunningProxy(f"http://127.0.0.1:{port}", proc)
    yield running
    log = stop_process(proc)
    # The token that reached the service has its payload in clear; it must not be in the proxy's output.
    assert "GET /echo" in log, log  # the access log is there...
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
    response = httpx.post(f"{proxy.url}/echo", content=b"z" * 100_000, headers={"Origin": "http://127.0.0.1"})
    assert response.json()["body_bytes"] == 100_000 and response.json()["method"] == "POST"


def test_responses_stream_as_they_arrive(proxy: RunningProxy) -> None:
    started = time.monotonic()
    with httpx.stream("GET", f"{proxy.url}/stream", params={"bytes": 3, "chunk": 1, "interval": 1}) as response:
        chunks = response.iter_raw()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    assert first + rest == b"xxx"
    assert first_at < 1.5 and time.monotonic() - started >= 2


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

    through = httpx.get(f"{proxy.url}/healthz")
    with Client(emulator_stack.url, credentials=emulator_stack.invoker_key) as client:
        direct = client.get("/healthz")
    for name in ("date", "server"):
        assert len(through.headers.get_list(name)) == len(direct.headers.get_list(name))
