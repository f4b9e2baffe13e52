"""Secret Manager's data: secrets and versions in the state, payloads as files (mode 0600) beside it.

A secret's metadata (labels, versions and their states, IAM bindings) lives in ``state.json``; each version's
payload is the file ``<state folder>/secrets/<secret>/<version>``, never in the state and never logged.
``latest`` means the highest ``ENABLED`` version, as on Google; accessing a disabled or destroyed version is
``400 FAILED_PRECONDITION``.

Example::

    create_secret(store, "api-key")
    add_version(store, "api-key", b"s3cret")
    version, payload = access(store, "api-key", "latest")
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.run_services import now_rfc3339
from cloudgate.emulator.core.state import Secret, SecretVersion, StateStore

_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
#: Google's limit on one version's payload.
MAX_PAYLOAD_BYTES = 64 * 1024


def _folder(store: StateStore, name: str) -> Path:
    return store.folder / "secrets" / name


def check_id(secret_id: str) -> str:
    if not _SECRET_ID.match(secret_id):
        raise ApiError(400, "Secret id must be 1-255 letters, digits, dashes or underscores.")
    return secret_id


def create_secret(store: StateStore, secret_id: str, labels: dict[str, str] | None = None) -> Secret:
    """A new secret without versions; 409 ``ALREADY_EXISTS`` if the id is taken."""
    check_id(secret_id)
    with store.edit() as state:
        if secret_id in state.secrets:
            raise ApiError(409, f"Secret [projects/{state.project_number}/secrets/{secret_id}] already exists.")
        secret = Secret(create_time=now_rfc3339(), labels=dict(labels or {}))
        state.secrets[secret_id] = secret
    return secret


def delete_secret(store: StateStore, secret_id: str) -> None:
    with store.edit() as state:
        if state.secrets.pop(secret_id, None) is None:
            raise ApiError(404, f"Secret [projects/{state.project_number}/secrets/{secret_id}] not found.")
        state.etags.pop(f"secrets/{secret_id}", None)
    shutil.rmtree(_folder(store, secret_id), ignore_errors=True)


def add_version(store: StateStore, secret_id: str, payload: bytes) -> str:
    """Store a new enabled version; returns its number (``"1"``, ``"2"``, ...)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ApiError(400, f"Secret payload is larger than {MAX_PAYLOAD_BYTES} bytes.")
    with store.edit() as state:
        secret = state.secrets.get(secret_id)
        if secret is None:
            raise ApiError(404, f"Secret [projects/{state.project_number}/secrets/{secret_id}] not found.")
        version = str(max((int(n) for n in secret.versions), default=0) + 1)
        write_private(_folder(store, secret_id) / version, payload)
        secret.versions[version] = SecretVersion(create_time=now_rfc3339())
    return version


def set_version_state(store: StateStore, secret_id: str, version: str, new_state: str) -> SecretVersion:
    """Enable, disable or destroy a version (a destroyed one loses its payload)."""
    with store.edit() as state:
        record = _version(state.secrets.get(secret_id), secret_id, version, state.project_number)
        if record.state == "DESTROYED":
            raise ApiError(400, f"Secret Version [{version}] is in DESTROYED state.", "FAILED_PRECONDITION")
        record.state = new_state
    if new_state == "DESTROYED":
        (_folder(store, secret_id) / version).unlink(missing_ok=True)
    return record


def resolve(secret: Secret | None, secret_id: str, version: str, project_number: str) -> str:
    """The version number ``version`` names (``latest`` -> the highest enabled one)."""
    if secret is None:
        raise ApiError(404, f"Secret [projects/{project_number}/secrets/{secret_id}] not found or has no versions.")
    if version == "latest":
        latest = secret.latest_enabled()
        if latest is None:
            raise ApiError(
                400, f"Secret [projects/{project_number}/secrets/{secret_id}] has no enabled versions.",
                "FAILED_PRECONDITION",
            )  # fmt: skip
        return latest
    return version


def access(store: StateStore, secret_id: str, version: str) -> tuple[str, bytes]:
    """The version number and payload of ``version`` (a number or ``latest``)."""
    state = store.current()
    secret = state.secrets.get(secret_id)
    number = resolve(secret, secret_id, version, state.project_number)
    record = _version(secret, secret_id, number, state.project_number)
    if record.state != "ENABLED":
        name = f"projects/{state.project_number}/secrets/{secret_id}/versions/{number}"
        raise ApiError(400, f"Secret Version [{name}] is in {record.state} state.", "FAILED_PRECONDITION")
    return number, (_folder(store, secret_id) / number).read_bytes()


def _version(secret: Secret | None, secret_id: str, version: str, project_number: str) -> SecretVersion:
    name = f"projects/{project_number}/secrets/{secret_id}/versions/{version}"
    if secret is None or version not in secret.versions:
        raise ApiError(404, f"Secret Version [{name}] not found.")
    return secret.versions[version]


def write_private(path: Path, payload: bytes, *, mode: int = 0o600, folder_mode: int = 0o700) -> None:
    """Write ``payload`` atomically (a reader sees the old or the new file, never half), readable by the owner
    only unless ``mode`` says otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".payload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
