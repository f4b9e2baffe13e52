"""Helpers for tests that start real processes: free ports (``tests/ports.py``), waiting for a port, stopping
cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from tests.ports import free_port as free_port  # where tests have always found it

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLOUDGATE = str(VENV_BIN / "cloudgate")


class _Stoppable(Protocol):
    def stop(self) -> object: ...


_S = TypeVar("_S", bound=_Stoppable)


def running(started: _S) -> Iterator[_S]:
    """Yield an already started server or stack, then ``stop()`` it: the body of a fixture (``yield from``)."""
    try:
        yield started
    finally:
        started.stop()


def wait_until(check: Callable[[], bool], *, timeout: float = 60.0, what: str = "the condition") -> None:
    """Poll ``check`` until it holds (a condition, not a guess at how long it takes); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.05)


def wait_for_port(
    port: int,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 20.0,
    output: Callable[[], str] | None = None,
) -> None:
    """Block until 127.0.0.1:port accepts connections; fail early if ``proc`` exits, with what it printed (read
    from its stdout, or ``output()`` when a ``Drain`` reads it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            read = output or (lambda: proc.stdout.read().decode(errors="replace") if proc.stdout else "")
            out = read()
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


#: The machine's own Google, gcloud, metadata and cloudgate settings: never passed on to a process a test starts.
_STRIPPED = ("GOOGLE_", "CLOUDSDK_", "GCE_", "CLOUDGATE_")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the machine's Google/gcloud/cloudgate settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    env.update(extra)
    return env


def start_process(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a process (from the repository root unless ``cwd``) with stdout and stderr captured together, in its
    own process group. Its environment is this one's without the machine's Google/gcloud/cloudgate settings
    (``clean_env``: a session fixture starts before ``tests/conftest.py`` strips them), plus ``env``."""
    return subprocess.Popen(
        list(argv),
        env=clean_env(**(env or {})),
        cwd=str(cwd or ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL to the whole process group if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> str:
    """SIGTERM, wait, SIGKILL if needed; returns everything the process printed."""
    _terminate(proc, timeout)
    out = b""
    if proc.stdout:
        out = proc.stdout.read()
        proc.stdout.close()
    return out.decode(errors="replace")


class Drain:
    """Reads a process's output as it comes (a full pipe would block the server's logging) and keeps it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            self._chunks.append(line)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for_port(self, port: int, *, timeout: float = 60.0) -> None:
        """Block until 127.0.0.1:port accepts connections; fail early, with the output, if the process exits."""
        wait_for_port(port, proc=self.proc, timeout=timeout, output=lambda: self.output)

    def wait_for(self, text: str, *, timeout: float = 30.0) -> None:
        """Block until ``text`` appears in the output (a condition, not a guess at how long it takes)."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._thread.is_alive()):
                raise TimeoutError(f"{text!r} not printed within {timeout}s:\n{self.output[-2000:]}")
            time.sleep(0.02)

    def wait_for_count(self, text: str, count: int, *, timeout: float = 30.0) -> None:
        """Block until ``text`` has been printed ``count`` times (for output that repeats, such as a marker)."""
        deadline = time.monotonic() + timeout
        while self.output.count(text) < count:
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._thread.is_alive()):
                raise TimeoutError(f"{text!r} not printed {count} times within {timeout}s:\n{self.output[-2000:]}")
            time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> str:
        """SIGTERM, wait (SIGKILL the group if it hangs), then everything the process printed."""
        _terminate(self.proc, timeout)
        self._thread.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.output
