"""``cloudgate dev --image IMAGE``: the service image itself behind the emulated front end (podman).

The container gets what Cloud Run gives a revision: ``PORT``, ``K_SERVICE``, ``K_REVISION``, ``K_CONFIGURATION``,
the revision's environment (identity ``cloud-run``, the service URL as audience, the docs user) and, as a
read-only secret volume, the API key file (``file://`` key store, hashes only). It listens on 0.0.0.0 inside its
own network namespace; only 127.0.0.1 on this machine reaches it, through the front end. Its log lines show in
the terminal. Other ``CLOUDGATE_*`` variables set where ``cloudgate dev`` runs are passed on, as a local
process would inherit them (``CLOUDGATE_SAMPLE_ROWS=1000`` makes the example's start quick): by name only, so
their values (a Redis URL with a password, say) never enter the revision's template, ``state.json`` or
``gcloud run services describe``; podman reads them from the environment of the emulator, which runs in this
process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cloudgate import env_vars

if TYPE_CHECKING:
    from cloudgate.cli.emulated_service import Container

#: Where the key file's folder is mounted in the container (as a Secret Manager volume would be).
KEYS_MOUNT = "/var/secrets/cloudgate-keys"
_KEY_FILE = "keys.json"
#: The example app's data folder variable (app/settings.py): a path on this machine means nothing in the container.
_DATA_DIR_VAR = "CLOUDGATE_DATA_DIR"


def keys_folder(state_dir: Path) -> Path:
    """The host folder mounted into the container: it holds only the key file (hashes)."""
    folder = (state_dir / "image-keys").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - the container's user (not this machine's) reads it through the mount
    return folder


def keystore_url(state_dir: Path) -> str:
    """The key store ``cloudgate dev`` writes: a ``file://`` store in the mounted folder."""
    return f"file://{keys_folder(state_dir) / _KEY_FILE}"


def share_key_file(state_dir: Path) -> None:
    """Let the container's user read the key file (hashes only: what a secret volume exposes to the service)."""
    path = keys_folder(state_dir) / _KEY_FILE
    if path.exists():
        os.chmod(path, 0o644)  # hashes only, like the secret volume it stands for


def share_hint(keystore: str) -> str:
    """What to run after ``cloudgate keys create`` so the container can read the rewritten file (mode 0600)."""
    return f"; chmod 644 {keystore.removeprefix('file://')}"


#: Set where ``cloudgate dev`` runs but meaningless in the container: 0.0.0.0 inside, and its own disk.
_LOCAL_ONLY = (env_vars.HOST, _DATA_DIR_VAR, env_vars.CERTS_URL)


def container_env(env: dict[str, str]) -> dict[str, str]:
    """The revision's own environment (kept in its template): ``env``, less what only makes sense on this machine,
    with the key store at its mount."""
    own = {**env, env_vars.KEYSTORE: f"file://{KEYS_MOUNT}/{_KEY_FILE}"}
    for local in _LOCAL_ONLY:
        own.pop(local, None)
    return own


def inherited_names(env: Mapping[str, str]) -> list[str]:
    """The ``CLOUDGATE_*`` variables of this process that the container inherits by name (its own ``env`` wins)."""
    return sorted(
        name for name in os.environ if name.startswith("CLOUDGATE_") and name not in env and name not in _LOCAL_ONLY
    )


def container(image: str, state_dir: Path, env: Mapping[str, str]) -> Container:
    """The revision's container: ``image``, with the key file's folder mounted read-only where the key store is,
    inheriting this process's other ``CLOUDGATE_*`` variables by name (``env``: the revision's own)."""
    from cloudgate.cli.emulated_service import Container

    return Container(
        image, host_volumes={str(keys_folder(state_dir)): KEYS_MOUNT}, inherit_env=tuple(inherited_names(env))
    )
