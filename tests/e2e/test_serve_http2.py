"""``cloudgate serve --http2``: h2c and HTTP/1 on ``0.0.0.0:$PORT``, JSON logs, graceful SIGTERM (granian)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudgate.service.keys import open_keystore
from tests.e2e.service_env import Served, serve

pytestmark = pytest.mark.e2e


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {
        "CLOUDGATE_KEYSTORE": f"sqlite:///{root / 'keys.sqlite3'}",
        "CLOUDGATE_DATA_DIR": str(root / "data"),
        "CLOUDGATE_SAMPLE_ROWS": "0",
        "CLOUDGATE_IDENTITY": "off",
        **extra,
    }


def _h2c() -> httpx.Client:
    """Cleartext HTTP/2 with prior knowledge, as Cloud Run's front end speaks it to a ``--use-http2`` service."""
    return httpx.Client(http1=False, http2=True, timeout=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root = tmp_path_factory.mktemp("serve-http2")
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("reader", ["datasets:read"])
    with serve("app.main:create_app", _env(root), args=["--http2"]) as running:
        yield running, api_key


def _wait_for_line(served: Served, needle: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in served.output.splitlines():
            if needle in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no output line with {needle!r}:\n{served.output[-2000:]}")


def test_it_answers_cleartext_http2(served: tuple[Served, str]) -> None:
    running, api_key = served
    with _h2c() as client:
        response = client.get(running.url + "/v1/whoami", headers={"X-API-Key": api_key})
    assert (response.http_version, response.status_code) == ("HTTP/2", 200)


def test_it_still_answers_http1_on_the_same_port(served: tuple[Served, str]) -> None:
    running, api_key = served
    response = httpx.get(running.url + "/v1/whoami", headers={"X-API-Key": api_key})
    assert (response.http_version, response.status_code) == ("HTTP/1.1", 200)


def test_an_h2c_request_gets_a_json_access_log_line(served: tuple[Served, str]) -> None:
    running, api_key = served
    with _h2c() as client:
        client.get(running.url + "/v1/datasets", headers={"X-API-Key": api_key, "X-Cloud-Trace-Context": "ab" * 16})
    line = json.loads(_wait_for_line(running, "ab" * 16))
    http_request = line["httpRequest"]
    assert isinstance(http_request, dict) and http_request["protocol"] == "HTTP/2"
    assert line["principal"] == "key:reader"


def test_it_listens_on_all_interfaces_at_port(served: tuple[Served, str]) -> None:
    running, _ = served
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{running.port}"], capture_output=True, text=True).stdout
    assert [line.split()[3] for line in listening.splitlines()] == [f"0.0.0.0:{running.port}"]


def test_sigterm_lets_an_in_flight_h2c_request_finish_and_exits_cleanly(tmp_path: Path) -> None:
    # The setting (CLOUDGATE_HTTP2) rather than the flag: Cloud Run users set it in the service's environment.
    # curl (nghttp2) as the client: granian's graceful GOAWAY is followed by a PING, which the h2 library behind
    # httpx refuses once it has seen the GOAWAY (python-hyper/h2 issue 1199); Google's front end handles it.
    with serve("tests.e2e.slow_app:create_app", _env(tmp_path, CLOUDGATE_HTTP2="true")) as running:
        curl = subprocess.Popen(
            [
                "curl",
                "-sS",
                "--http2-prior-knowledge",
                "-w",
                "\n%{http_version} %{http_code}",
                f"{running.url}/slow?seconds=2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for_line(running, "slow: started")
        running.proc.send_signal(signal.SIGTERM)
        code = running.proc.wait(timeout=10)  # Cloud Run's SIGKILL comes 10 s after SIGTERM
        out, _ = curl.communicate(timeout=10)
    assert out.splitlines() == ['{"slept":2.0}', "2 200"]
    assert code == 0
