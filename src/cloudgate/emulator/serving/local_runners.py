"""What runs a revision's container on this machine: an image (podman), a local command, or a running upstream.

Cloud Run runs images. The emulator runs three kinds of container, chosen by ``containers[0].image``:

- ``cloudgate/local-command``: ``command`` + ``args`` as a local process, with the emulator's environment plus
  the revision's (``ProcessRunner``). ``cloudgate dev``, ``cloudgate emulator run -- CMD`` and
  ``cloudgate deploy --emulator`` deploy it; ``gcloud run deploy --image=cloudgate/local-command --command=...``
  too. Each instance gets ``TMPDIR`` in a folder of its own; secret mounts live under ``$CLOUDGATE_MOUNT_ROOT``.
- ``cloudgate/upstream``: no process; the revision's one instance is the service already running at ``args[0]``
  (``cloudgate emulator run --upstream URL``).
- any other image: ``podman run`` (``ContainerRunner``), secret volumes bind-mounted read-only at their paths.

Two template annotations of the emulator's own (Google has no equivalent; a real deploy would bake these into
the image) say what an instance's disk holds:

- ``run.cloudgate.dev/instance-copies``: JSON ``{"ENV_VAR": "/path" | "sqlite:///path"}``; each instance of a
  local command gets its own copy of that folder or file, and ``ENV_VAR`` names the copy (Cloud Run instances
  share no disk: a file written by one is unknown to the others). A path that does not exist yet starts empty.
- ``run.cloudgate.dev/host-volumes``: JSON ``{"/host/folder": "/container/path"}``, mounted read-only into an
  image's containers (``cloudgate dev --image`` mounts its key file's folder this way).
- ``run.cloudgate.dev/inherit-env``: ``NAME,NAME``: variables an image's containers take, by name, from the
  emulator's own environment (``cloudgate dev --image`` passes on the ``CLOUDGATE_*`` variables of its shell so;
  their values stay out of the template and of ``state.json``).

``run.cloudgate.dev/made-by`` on the service names the command that deployed it (``cloudgate dev``): such a
service lives as long as that command, so an emulator started again does not resume it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cloudgate.emulator.serving.runner import ProcessRunner, Runner
from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S
from cloudgate.knative import LOCAL_COMMAND_IMAGE

__all__ = ["LOCAL_COMMAND_IMAGE"]

UPSTREAM_IMAGE = "cloudgate/upstream"
MADE_BY = "run.cloudgate.dev/made-by"
INSTANCE_COPIES = "run.cloudgate.dev/instance-copies"
HOST_VOLUMES = "run.cloudgate.dev/host-volumes"
INHERIT_ENV = "run.cloudgate.dev/inherit-env"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MOUNT_ROOT_ENV = "CLOUDGATE_MOUNT_ROOT"
_CLOUD_RUN_NAMES = ("K_SERVICE", "K_REVISION", "K_CONFIGURATION")
_SQLITE = "sqlite:///"


class RunnerFactory(Protocol):
    """Makes the runner of one instance: the container spec, its environment, the revision's secret mounts,
    the template's annotations and the instance's own folder."""

    def __call__(
        self, container: dict[str, Any], env: dict[str, str], mounts: Path, *, annotations: Mapping[str, str],
        folder: Path,
    ) -> Runner: ...  # fmt: skip


class UpstreamRunner:
    """A service someone else runs: nothing to start or stop, every request goes to ``address``."""

    def __init__(self, address: str) -> None:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EmulatorError(f"the upstream {address!r} is not an http(s) URL")
        self.address = address.rstrip("/")

    def start(self, port: int) -> None:
        """Nothing to start: the service runs already (or will, and the front end answers 503 until then)."""

    async def wait_ready(self, port: int, limit: float = 30.0) -> None:
        """Not waited for, as before: the front end reports an upstream that does not answer (503)."""

    def stop(self, grace: float = CLOUD_RUN_SHUTDOWN_GRACE_S) -> int | None:
        return None

    def url(self, port: int) -> str:
        return self.address

    @property
    def returncode(self) -> int | None:
        return None


def json_annotation(annotations: Mapping[str, str], name: str) -> dict[str, str]:
    """An emulator annotation's JSON object of strings (``{}`` when absent); ``EmulatorError`` if malformed."""
    raw = annotations.get(name)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EmulatorError(f"the annotation {name} is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise EmulatorError(f"the annotation {name} must be a JSON object of strings")
    return value


def inherited_names(annotations: Mapping[str, str]) -> list[str]:
    """The variable names ``inherit-env`` lists; ``EmulatorError`` for anything that is not one."""
    names = [name for name in annotations.get(INHERIT_ENV, "").split(",") if name]
    bad = [name for name in names if not _ENV_NAME.fullmatch(name)]
    if bad:
        raise EmulatorError(f"the annotation {INHERIT_ENV} must list variable names: {bad[0]!r} is not one")
    return names


def check(container: dict[str, Any], annotations: Mapping[str, str]) -> None:
    """Refuse, before any instance starts, what no instance could run with (``EmulatorError``)."""
    json_annotation(annotations, INSTANCE_COPIES)
    json_annotation(annotations, HOST_VOLUMES)
    inherited_names(annotations)
    if container.get("image") == UPSTREAM_IMAGE:
        UpstreamRunner(str((container.get("args") or [""])[0]))


def own_copies(annotations: Mapping[str, str], folder: Path) -> dict[str, str]:
    """Copy what ``instance-copies`` names into the instance's folder; the env vars that name the copies."""
    env = {}
    for name, value in json_annotation(annotations, INSTANCE_COPIES).items():
        prefix = _SQLITE if value.startswith(_SQLITE) else ""
        source, target = Path(value.removeprefix(prefix)), folder / "copies" / name
        if source.is_file():
            target.mkdir(parents=True, exist_ok=True)
            target = target / source.name
            shutil.copyfile(source, target)
        elif source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
        env[name] = prefix + str(target.resolve())
    return env


def local_command_runner(
    container: dict[str, Any], env: dict[str, str], mounts: Path, *, annotations: Mapping[str, str], folder: Path
) -> Runner:
    """``command`` + ``args`` on this machine, ``TMPDIR`` and the instance copies in the instance's folder."""
    argv = [str(a) for a in [*container.get("command", []), *container.get("args", [])]]
    own = {**env, "TMPDIR": str(folder), MOUNT_ROOT_ENV: str(mounts), **own_copies(annotations, folder)}
    return ProcessRunner(argv, env=own)


def container_runner(
    container: dict[str, Any], env: dict[str, str], mounts: Path, *, annotations: Mapping[str, str], folder: Path
) -> Runner:
    """``podman run`` of the image: secret volumes and host volumes bind-mounted read-only at their paths."""
    from cloudgate.emulator.serving.container import ContainerRunner

    volumes = {
        mounts / str(mount.get("mountPath", "/")).lstrip("/"): str(mount.get("mountPath"))
        for mount in container.get("volumeMounts") or []
        if isinstance(mount, dict) and mount.get("mountPath")
    }
    for host in volumes:
        host.mkdir(parents=True, exist_ok=True, mode=0o755)
    volumes.update({Path(host): target for host, target in json_annotation(annotations, HOST_VOLUMES).items()})
    own = {k: v for k, v in env.items() if k not in _CLOUD_RUN_NAMES}
    # Knative's ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD, as ``podman run`` does them.
    command = [str(a) for a in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    return ContainerRunner(
        str(container["image"]),
        env=own,
        service=env.get("K_SERVICE", "service"),
        revision=env.get("K_REVISION"),
        volumes=volumes,
        command=[*command[1:], *args],
        podman_args=["--entrypoint", command[0]] if command else [],
        inherit=inherited_names(annotations),
    )


def default_runner(
    container: dict[str, Any], env: dict[str, str], mounts: Path, *, annotations: Mapping[str, str], folder: Path
) -> Runner:
    """The runner for the container's image: a local command, an upstream, or podman."""
    image = container.get("image")
    if image == LOCAL_COMMAND_IMAGE:
        return local_command_runner(container, env, mounts, annotations=annotations, folder=folder)
    if image == UPSTREAM_IMAGE:
        return UpstreamRunner(str((container.get("args") or [""])[0]))
    return container_runner(container, env, mounts, annotations=annotations, folder=folder)
