"""Starting and stopping: graceful SIGTERM with in-flight requests, SIGKILL after the grace period, no restarts."""

from __future__ import annotations

import os
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

from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.identity import iam
from cloudgate.emulator.serving.runner import ProcessRunner
from cloudgate.errors import EmulatorError
from cloudgate.google import INVOKER_ROLE
from tests.e2e.stack import EmulatorStack
from tests.support import CLOUDGATE, Drain, clean_env, free_port

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


_ONE_ANSWER = """
import http.server, os, threading
class Once(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(str(os.getpid()).encode())
        threading.Thread(target=server.shutdown).start()
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Once)
server.serve_forever()
"""


def _gone(pid: int) -> bool:
    """The process exited (a zombie counts: nobody waited for it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_an_instance_that_exits_is_reported_and_replaced_on_the_next_request(tmp_path: Path) -> None:
    """As Cloud Run does: an instance that exits on its own is logged with its status, and a new one serves."""
    script = tmp_path / "once.py"
    script.write_text(_ONE_ANSWER)
    state, port, service_port = tmp_path / "state", free_port(), free_port()
    iam.ensure_service(StateStore(state), "dev", url=f"http://127.0.0.1:{service_port}")
    iam.grant_service_role(StateStore(state), "dev", INVOKER_ROLE, "allUsers")
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(state), "--port", str(port),
        "--service-port", str(service_port), "--", sys.executable, str(script),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    drain = Drain(proc)
    try:
        drain.wait_for(f"service dev: http://127.0.0.1:{service_port}")
        first = int(httpx.get(f"http://127.0.0.1:{service_port}/", timeout=30).raise_for_status().text)
        deadline = time.monotonic() + 30
        while not _gone(first):
            assert time.monotonic() < deadline, "the instance did not exit after its one answer"
            time.sleep(0.05)
        second = int(httpx.get(f"http://127.0.0.1:{service_port}/", timeout=30).raise_for_status().text)
    finally:
        output = drain.stop(timeout=20)
    assert second != first, output
    assert "instance dev-00001 exited on its own with status 0" in output
    assert "instance dev-00002 started" in output


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


def test_a_command_that_never_listens_ends_emulator_run_with_cloud_runs_message(tmp_path: Path) -> None:
    """The revision fails as a deploy does (Ready=False with Cloud Run's message): exit 1, no traceback."""
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(tmp_path / "state"), "--port", str(free_port()),
        "--service-port", str(free_port()), "--", sys.executable, "-c", "raise SystemExit(3)",
    ]  # fmt: skip
    done = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "service dev did not start" in done.stderr and "failed to start and listen on the port" in done.stderr
    assert "status 3" in done.stderr and "Traceback" not in done.stderr


def test_a_stop_signal_while_the_service_starts_stops_everything(tmp_path: Path) -> None:
    """SIGTERM before the revision listens: the instance that then listens is stopped, and the emulator exits 0."""
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, socket, sys, time\n"
        "sys.stdin.readline()\n"  # listens once the test says so: the signal surely comes first
        "s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\n"
        "time.sleep(60)\n"
    )
    release = tmp_path / "release"
    os.mkfifo(release)
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(tmp_path / "state"), "--port", str(free_port()),
        "--service-port", str(free_port()), "--", "sh", "-c", f'exec "$0" "$1" < {release}', sys.executable,
        str(script),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    drain = Drain(proc)
    try:
        drain.wait_for("service started (pid ")
        proc.send_signal(signal.SIGTERM)
        drain.wait_for("received SIGTERM")
        with release.open("w") as gate:
            gate.write("go\n")
        assert proc.wait(timeout=60) == 0
    finally:
        output = drain.stop(timeout=20)
    pid = int(output.split("service started (pid ", 1)[1].split(")", 1)[0])
    assert _gone(pid), output
    assert "service dev: http" not in output and "Traceback" not in output
