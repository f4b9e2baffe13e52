"""``ContainerRunner``: runs a container image behind the front end, as Cloud Run runs a revision (podman).

It implements the emulator's ``Runner`` protocol (``cloudgate.emulator.serving.runner``), so anything that takes a
runner (every revision's instances, ``instances.py``) can take it: ``gcloud run deploy --image``,
``cloudgate dev --image``.
Like Cloud Run, it sets ``PORT``, ``K_SERVICE``, ``K_REVISION`` and ``K_CONFIGURATION`` in the container,
publishes the port on 127.0.0.1 only, shows the container's output as the emulator's own (its log lines),
and stops it with SIGTERM, then SIGKILL ``CLOUD_RUN_SHUTDOWN_GRACE_S`` (10 s) later.

Example::

    runner = ContainerRunner("localhost/cloudgate:latest", env={"CLOUDGATE_IDENTITY": "cloud-run"},
                             service="orders", revision="orders-00002-xyz")
    runner.start(9001)               # podman run ... -p 127.0.0.1:9001:9001, PORT=9001 inside
    await runner.wait_ready(9001)
    runner.stop()                    # SIGTERM; SIGKILL after 10 s; returns the container's exit status

Environment values never reach podman's argv (which any local user can read): podman gets ``-e NAME`` and reads
the value from its own environment. ``volumes`` maps host paths to container paths (mounted read-only, as a
Secret Manager volume is). podman itself is configured the usual way (``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF``; see scripts/container-env.sh for machines without overlayfs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal as signal_module
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from cloudgate import env_vars
from cloudgate.emulator.serving.runner import wait_listening
from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)

_REVISION_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: How long a podman command may take: it waits for the storage lock, which a concurrent image build holds long.
_PODMAN_TIMEOUT_S = 180.0
#: How long stop() waits, once the container has exited, for podman run to remove it and exit.
_REMOVAL_WAIT_S = 2.0


def revision_name(service: str, generation: int = 1) -> str:
    """A revision name shaped like Cloud Run's: ``SERVICE-00001-abc``."""
    suffix = "".join(secrets.choice(_REVISION_LETTERS) for _ in range(3))
    return f"{service}-{generation:05d}-{suffix}"


class ContainerRunner:
    """Runs ``image`` with podman; ``env`` is the revision's environment (Cloud Run's own variables are added).

    ``command`` replaces the image's ``CMD`` (a Knative container's ``command`` + ``args``); ``podman_args`` go
    before the image name (say ``--memory 512m``).
    """

    def __init__(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        service: str = "service",
        revision: str | None = None,
        volumes: Mapping[Path, str] | None = None,
        command: Sequence[str] = (),
        podman_args: Sequence[str] = (),
        podman: str = "podman",
        inherit: Sequence[str] = (),
    ) -> None:
        if not image:
            raise EmulatorError("the image name is empty")
        self.image = image
        self.env = dict(env or {})
        self.service = service
        self.revision = revision or revision_name(service)
        self.volumes = dict(volumes or {})
        self.command_args = list(command)
        self.podman_args = list(podman_args)
        self.podman = podman
        #: Names the container takes from this process's environment (podman's ``--env NAME``: no value on argv).
        self.inherit = [name for name in inherit if name not in self.env]
        self.name = f"cloudgate-{self.revision}-{secrets.token_hex(3)}"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self, port: int) -> list[str]:
        """The ``podman run`` argv for ``port`` (names only for the environment: values travel in podman's env)."""
        argv = [self.podman, "run", "--rm", "--pull=never", "--name", self.name, "--label", "cloudgate.emulator=1"]
        argv += ["--publish", f"127.0.0.1:{port}:{port}"]
        for name in sorted({*self._container_env(port), *(n for n in self.inherit if n in os.environ)}):
            argv += ["--env", name]
        for host, target in self.volumes.items():
            argv += ["--volume", f"{Path(host).resolve()}:{target}:ro"]
        return [*argv, *self.podman_args, self.image, *self.command_args]

    def _container_env(self, port: int) -> dict[str, str]:
        return {
            **self.env,
            env_vars.PORT: str(port),
            env_vars.K_SERVICE: self.service,
            env_vars.K_CONFIGURATION: self.service,  # Cloud Run: the configuration is named after the service
            env_vars.K_REVISION: self.revision,
        }

    def start(self, port: int) -> None:
        self._check_image()
        environment = {**os.environ, **self._container_env(port)}
        try:
            # A session of its own: a Ctrl-C at the terminal reaches only the emulator, whose stop() then sends the
            # container SIGTERM as Cloud Run would (podman run would otherwise pass the SIGINT on by itself, and
            # stop() would wait for a client still removing a container that had already exited).
            self._proc = subprocess.Popen(
                self.command(port), env=environment, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as exc:
            raise EmulatorError(f"cannot run {self.podman!r}: {exc.strerror} (is podman installed?)") from exc
        logger.info(
            "container %s (image %s, revision %s) starting on port %d", self.name, self.image, self.revision, port
        )

    def _check_image(self) -> None:
        try:
            found = subprocess.run(
                [self.podman, "image", "exists", self.image],
                capture_output=True,
                timeout=_PODMAN_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmulatorError(f"cannot run {self.podman!r}: {exc}") from exc
        if found.returncode != 0:
            raise EmulatorError(f"no local image {self.image!r} (build it: scripts/build-image.sh {self.image})")

    async def wait_ready(self, port: int, limit: float = 60.0) -> None:
        # An HTTP answer, not just an accepted connection: podman's port forwarder (rootless podman) accepts
        # connections before the service inside listens.
        await wait_listening(port, limit, lambda: self.returncode, what=f"the container {self.name}", probe=_answers)

    def stop(self, grace: float = CLOUD_RUN_SHUTDOWN_GRACE_S) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        status: int | None = None
        if proc.poll() is None:
            self._signal("TERM")
            exited, status = self._wait_exited(grace)
            if not exited and self._running():  # not just podman still removing a container that exited
                logger.warning("container %s did not stop %gs after SIGTERM: sending SIGKILL", self.name, grace)
                self._signal("KILL")
                self._wait_exited(_PODMAN_TIMEOUT_S)
            try:
                proc.wait(timeout=_REMOVAL_WAIT_S)  # podman run removes the container (--rm), then exits
            except subprocess.TimeoutExpired:
                # vfs storage deletes a whole copy of the image: podman finishes that on its own, in its session.
                logger.info("container %s exited with status %s; podman is still removing it", self.name, status)
                return status
            if proc.returncode != 0:
                self._remove()  # whatever happened above, no container outlives its runner
        logger.info("container %s stopped with status %s", self.name, proc.returncode)
        return proc.returncode

    def _wait_exited(self, limit: float) -> tuple[bool, int | None]:
        """``(True, status)`` once the container has exited (``status`` None when podman already removed it), or
        ``(False, None)`` when it still runs after ``limit`` seconds."""
        try:
            done = subprocess.run(
                [self.podman, "wait", "--condition", "exited", self.name],
                capture_output=True, text=True, timeout=limit, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False, None
        except OSError:
            return not self._running(), None
        if done.returncode == 0 and done.stdout.strip().lstrip("-").isdigit():
            return True, int(done.stdout.strip())
        return not self._running(), None

    def _running(self) -> bool:
        """Whether the container itself still runs (podman says so; a container podman cannot find does not)."""
        try:
            done = subprocess.run(
                [self.podman, "container", "inspect", "--format", "{{.State.Running}}", self.name],
                capture_output=True, text=True, timeout=_PODMAN_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return True  # unknown: treat as running, so SIGKILL still comes
        return done.returncode == 0 and done.stdout.strip() == "true"

    def _remove(self) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [self.podman, "rm", "--force", "--ignore", "--time", "0", self.name],
                capture_output=True, timeout=_PODMAN_TIMEOUT_S, check=False,
            )  # fmt: skip

    def _signal(self, signal: str) -> None:
        try:
            done = subprocess.run(
                [self.podman, "kill", "--signal", signal, self.name],
                capture_output=True, timeout=_PODMAN_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if (done is None or done.returncode != 0) and self._proc is not None and self._proc.poll() is None:
            # Not running yet (podman is still creating it): podman run passes the signal on (--sig-proxy).
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(getattr(signal_module, f"SIG{signal}"))

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"  # published on loopback only

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()


def _answers(port: int) -> bool:
    """Whatever listens on 127.0.0.1:port answers an HTTP request with at least one byte."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return bool(connection.recv(1))
    except OSError:
        return False
