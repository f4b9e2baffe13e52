"""Starting and stopping: graceful SIGTERM with in-flight requests, SIGKILL after the grace period, no restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from cloudgate.emulator.serving.runner import ProcessRunner
from cloudgate.errors import EmulatorError
from tests.e2e.stack import EmulatorStack
from tests.support import CLOUDGATE, Drain, clean_env, free_port, start_process

pytestmark = pytest.mark.e2e


def _token(stack: EmulatorStack) -> str:
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(stack.invoker_key), target_audience=stack.url
    )
    creds.refresh(google.auth.transport.requests.Request())
    return str(creds.token)


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    """On SIGTERM the emulator stops the service like Cloud Run, and a request already in flight completes."""
    stack = EmulatorStack.start(tmp_path)
    token = _token(stack)
    result: dict[str, object] = {}

    def call() -> None:
        headers = {"X-Serverless-Authorization": f"Bearer {token}"}
        response = httpx.get(f"{stack.url}/slow?seconds=2", headers=headers, timeout=30)
        result["status"], result["body"] = response.status_code, response.text

    caller = threading.Thread(target=call)
    caller.start()
    assert stack.proc is not None and stack.drain is not None
    stack.drain.wait_for("slow: started")
    stack.proc.send_signal(signal.SIGTERM)
    caller.join(timeout=15)
    output = stack.stop()
    assert result == {"status": 200, "body": "slept 2s"}, output
    assert stack.proc.returncode == 0, output
    assert "received SIGTERM" in output
    with pytest.raises(httpx.ConnectError):
        httpx.get(stack.url, timeout=2)


def test_runner_sends_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    """A service that ignores SIGTERM is killed with SIGKILL once the grace period is over."""
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import os, signal, socket, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\n"
        "time.sleep(60)\n"
    )
    runner = ProcessRunner([sys.executable, str(script)])
    port = free_port()
    runner.start(port)
    anyio.run(runner.wait_ready, port)
    started = time.monotonic()
    assert runner.stop(grace=1) == -signal.SIGKILL
    assert 0.9 < time.monotonic() - started < 30  # the service would sleep 60 s: it was killed, not waited for


def test_runner_reports_a_service_that_exits_before_listening(tmp_path: Path) -> None:
    """A service that dies at start is reported with its exit status, not retried."""
    runner = ProcessRunner([sys.executable, "-c", "raise SystemExit(3)"])
    port = free_port()
    runner.start(port)
    with pytest.raises(EmulatorError, match="status 3"):
        anyio.run(runner.wait_ready, port)


def test_emulator_stops_when_its_service_dies(tmp_path: Path) -> None:
    """If the service process exits while running, the emulator says so and exits instead of restarting it."""
    script = tmp_path / "short.py"
    go = tmp_path / "exit-now"
    script.write_text(
        "import os, socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"  # the test says when: once the emulator runs
    )
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(tmp_path / "state"), "--port", str(free_port()),
        "--service-port", str(free_port()), "--", sys.executable, str(script),
    ]  # fmt: skip
    emulator = Drain(start_process(argv))
    try:
        emulator.wait_for("emulator ready at")
        go.touch()
        assert emulator.proc.wait(timeout=30) == 1
    finally:
        output = emulator.stop()
    assert "exited on its own (status 0)" in output
    assert output.count("service started") == 1


def test_port_in_use_is_a_clean_cli_error(tmp_path: Path) -> None:
    """A taken port ends the command with a one-line error naming the port, never a traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [CLOUDGATE, "emulator", "run", "--state-dir", str(tmp_path), "--port", str(port)]
        done = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
