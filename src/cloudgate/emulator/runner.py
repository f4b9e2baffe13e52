"""Runners start the service behind the front end, as Cloud Run starts a container: ``PORT`` set, wait to listen.

``Runner`` is the interface the emulator needs (start on a port, wait until it listens, stop, exit status);
``ProcessRunner`` runs a local command; ``cloudgate.emulator.container.ContainerRunner`` runs an image (podman).
Nothing is restarted silently: if the process dies, the front end answers 503 and the emulator logs it.
Stopping follows the container contract: SIGTERM, then SIGKILL ``CLOUD_RUN_SHUTDOWN_GRACE_S`` (10 s) later.

Example::

    runner = ProcessRunner([sys.executable, "-m", "cloudgate.emulator.echo"])
    runner.start(9001)
    await runner.wait_ready(9001)
    runner.stop()
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import anyio

from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)


class Runner(Protocol):
    """What the emulator needs from whatever runs the service."""

    def start(self, port: int) -> None:
        """Start the service so that it listens on ``port`` (``PORT`` in its environment)."""

    async def wait_ready(self, port: int, limit: float = 30.0) -> None:
        """Return once ``127.0.0.1:port`` accepts connections; raise ``EmulatorError`` if it dies or times out."""

    def stop(self, grace: float = CLOUD_RUN_SHUTDOWN_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""

    @property
    def returncode(self) -> int | None:
        """``None`` while running, else the exit status."""


class ProcessRunner:
    """Runs a local command (in its own process group) with ``PORT`` set; output goes to the emulator's own."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        if not argv:
            raise EmulatorError("the service command is empty")
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int) -> None:
        environment = {**os.environ, **self.env, "PORT": str(port)}
        try:
            self._proc = subprocess.Popen(self.argv, env=environment, cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            raise EmulatorError(f"cannot start the service command {self.argv[0]!r}: {exc.strerror}") from exc
        logger.info("service started (pid %d) on port %d", self._proc.pid, port)

    async def wait_ready(self, port: int, limit: float = 30.0) -> None:
        await wait_listening(port, limit, lambda: self.returncode, what="the service")

    def stop(self, grace: float = CLOUD_RUN_SHUTDOWN_GRACE_S) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            # Said once the signal is out: requests in flight now have ``grace`` seconds to finish.
            logger.info("service (pid %d) sent SIGTERM; SIGKILL in %gs unless it exits", proc.pid, grace)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                logger.warning("service did not stop %gs after SIGTERM: sending SIGKILL", grace)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        logger.info("service stopped with status %s", proc.returncode)
        return proc.returncode

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()


async def wait_listening(
    port: int,
    limit: float,
    exit_status: Callable[[], int | None],
    *,
    what: str,
    probe: Callable[[int], bool] | None = None,
) -> None:
    """Return once ``probe(port)`` (default: 127.0.0.1:port accepts a connection) is true; raise ``EmulatorError``
    if ``exit_status()`` shows the service died first, or after ``limit`` seconds."""
    check = probe or _accepts
    with anyio.move_on_after(limit):
        while True:
            if (status := exit_status()) is not None:
                raise EmulatorError(f"{what} exited with status {status} before listening")
            if await anyio.to_thread.run_sync(check, port):
                return
            await anyio.sleep(0.05)
    raise EmulatorError(f"{what} did not listen on port {port} within {limit:g}s")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
