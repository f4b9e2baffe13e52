"""Runners start the service behind the front end, as Cloud Run starts a container: ``PORT`` set, wait to listen.

``Runner`` is the interface the emulator needs (start on a port, wait until it listens, stop, exit status);
``ProcessRunner`` runs a local command; ``container.ContainerRunner`` runs an image (podman);
``local_runners.UpstreamRunner`` stands for a service someone else runs. A runner is one instance: one that dies
is logged with its status and dropped (``instances.py``), and the next request starts another, as Cloud Run does.
Stopping follows the container contract: SIGTERM, then SIGKILL ``CLOUD_RUN_SHUTDOWN_GRACE_S`` (10 s) later.
``start_listening`` starts a runner on a free port, and on another one when a different process took it first.

Example::

    runner = ProcessRunner([sys.executable, "-m", "cloudgate.emulator.serving.echo"])
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

from cloudgate.emulator.serving.listeners import free_port, port_taken
from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)

#: How many ports one start may be given: a port is free when chosen, and another process may bind it first.
PORT_ATTEMPTS = 3


class ServiceStartError(EmulatorError):
    """The service exited or did not listen in time; ``port`` is the (last) port it was given."""

    def __init__(self, message: str, *, port: int) -> None:
        super().__init__(message)
        self.port = port


class Runner(Protocol):
    """What the emulator needs from whatever runs the service."""

    def start(self, port: int) -> None:
        """Start the service so that it listens on ``port`` (``PORT`` in its environment)."""

    async def wait_ready(self, port: int, limit: float = 30.0) -> None:
        """Return once ``127.0.0.1:port`` accepts connections; raise ``EmulatorError`` if it dies or times out."""

    def stop(self, grace: float = CLOUD_RUN_SHUTDOWN_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""

    def url(self, port: int) -> str:
        """Where requests to the instance started on ``port`` go."""

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

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()


async def start_listening(
    runner: Runner, limit: float | None = None, choose_port: Callable[[], int] = free_port
) -> int:
    """Start ``runner`` on a port from ``choose_port``, wait until it listens there (``limit`` seconds, else the
    runner's own default), and return the port; ``ServiceStartError`` if it does not.

    A chosen port is free only at the moment it is chosen (the service binds it later, as Cloud Run's contract
    has it: ``PORT`` is a number, not a socket), so another process may bind it first; the service then exits
    (EADDRINUSE) or never listens. A port found taken before the start is passed over; a start that fails while
    another process holds its port is made again on a fresh port. At most ``PORT_ATTEMPTS`` ports in all; any
    other failure is raised at once, the service not started again.
    """
    port = 0
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = choose_port()
        if port_taken(port):
            logger.warning("port %d was taken right after it was chosen: choosing another", port)
            continue
        try:
            await anyio.to_thread.run_sync(runner.start, port)  # a thread: a container's start blocks (creating)
            await (runner.wait_ready(port) if limit is None else runner.wait_ready(port, limit))
        except EmulatorError as exc:
            await anyio.to_thread.run_sync(runner.stop)
            if not port_taken(port):
                raise ServiceStartError(str(exc), port=port) from exc
            if attempt == PORT_ATTEMPTS:
                message = f"{exc}: another process held its port {port} ({PORT_ATTEMPTS} ports tried)"
                raise ServiceStartError(message, port=port) from exc
            logger.warning("another process took port %d before the service listened on it (%s): starting the "
                           "service again on another port", port, exc)  # fmt: skip
            continue
        return port
    raise ServiceStartError(f"every port chosen was taken by another process ({PORT_ATTEMPTS} tried)", port=port)


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
