"""The emulator's ContainerRunner: Cloud Run's variables in the container, SIGTERM drain, SIGKILL after the grace."""

from __future__ import annotations

import threading
import time

import anyio
import httpx

from cloudgate.emulator.serving.container import ContainerRunner
from tests.container.conftest import Images, podman
from tests.container.images import BASE_IMAGE
from tests.support import free_port


def _wait_for_log(name: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = podman("logs", name, check=False)
        if text in logs.stdout + logs.stderr:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{text!r} not in the logs of {name} within {timeout}s")


def test_an_in_flight_request_finishes_after_sigterm_and_the_container_exits_by_itself(built: Images) -> None:
    """The user's own app (built with APP_DIR=myservice) keeps the contract too."""
    runner = ContainerRunner(built.myservice, service="drain")
    port = free_port()
    runner.start(port)
    try:
        anyio.run(runner.wait_ready, port, 120.0)
        answers: list[httpx.Response] = []
        call = threading.Thread(
            target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/slow?seconds=3", timeout=60))
        )
        call.start()
        _wait_for_log(runner.name, "slow: started")
        status = runner.stop()  # SIGTERM now; SIGKILL only if it has not exited 10 s later
        call.join(timeout=60)
    finally:
        runner.stop(grace=0)
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"slept": 3.0})]
    assert status == 0  # exited on its own: a SIGKILL would show as 137


#: A server that answers its environment as JSON, and (as PID 1 without a handler) ignores SIGTERM.
_ENV_SERVER = """
import http.server, json, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        names = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "MY_SETTING")
        body = json.dumps({name: os.environ.get(name) for name in names}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_cloud_run_variables_are_set_in_the_container(built: Images) -> None:
    runner = ContainerRunner(
        BASE_IMAGE, env={"MY_SETTING": "x"}, service="orders", revision="orders-00002-abc",
        command=["python3", "-c", _ENV_SERVER],
    )  # fmt: skip
    port = free_port()
    runner.start(port)
    try:
        anyio.run(runner.wait_ready, port, 120.0)
        seen = httpx.get(f"http://127.0.0.1:{port}/").json()
    finally:
        runner.stop(grace=0)
    assert seen == {
        "PORT": str(port), "K_SERVICE": "orders", "K_REVISION": "orders-00002-abc", "K_CONFIGURATION": "orders",
        "MY_SETTING": "x",
    }  # fmt: skip


def test_a_container_that_ignores_sigterm_is_killed_after_the_grace(built: Images) -> None:
    runner = ContainerRunner(BASE_IMAGE, service="stubborn", command=["python3", "-c", _ENV_SERVER])
    port = free_port()
    runner.start(port)
    try:
        anyio.run(runner.wait_ready, port, 120.0)
        status = runner.stop(grace=1.0)
    finally:
        runner.stop(grace=0)
    assert status == 137  # 128 + SIGKILL
