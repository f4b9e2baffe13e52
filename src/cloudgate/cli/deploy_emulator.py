"""``cloudgate deploy --emulator``: the same deploy against a running ``cloudgate emulator run``, with the real gcloud.

gcloud is pointed at the emulator exactly as ``cloudgate emulator gcloud-env`` does (a config folder of its own
under the emulator's state folder; the machine's gcloud configuration is never read or changed). The emulator
has no Cloud Build: ``--source DIR`` becomes a local-command revision that runs ``cloudgate serve`` in DIR.
Cloud Run mounts secret files at absolute paths; a local-command revision finds them under
``$CLOUDGATE_MOUNT_ROOT``, so the revision's shell line points the service's file settings there first.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from cloudgate.errors import EmulatorError

#: Rebase the two file settings under the revision's mount root, then serve (POSIX sh, no commas).
_LAUNCH = (
    'if [ -n "$CLOUDGATE_DOCS_USERS_FILE" ]; then '
    'export CLOUDGATE_DOCS_USERS_FILE="$CLOUDGATE_MOUNT_ROOT$CLOUDGATE_DOCS_USERS_FILE"; fi; '
    'case "$CLOUDGATE_KEYSTORE" in file://*) '
    'export CLOUDGATE_KEYSTORE="file://$CLOUDGATE_MOUNT_ROOT${CLOUDGATE_KEYSTORE#file://}";; esac; '
)


def emulator_gcloud_env(state_dir: Path, region: str | None) -> dict[str, str]:
    """The ``CLOUDSDK_*`` environment for the emulator running on ``state_dir``."""
    import httpx

    from cloudgate.emulator.core.state import read_address
    from cloudgate.emulator.gcloud_env import DEFAULT_REGION, gcloud_environment, prepare_config

    url = read_address(state_dir)
    if url is None:
        raise EmulatorError(
            f"no emulator is running on {state_dir}: start one with `cloudgate emulator run`, "
            "or pass --emulator-state-dir"
        )
    try:
        answer = httpx.post(f"{url.rstrip('/')}/admin/gcloud-credentials", timeout=30, trust_env=False)
        answer.raise_for_status()
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise EmulatorError(
            f"the emulator at {url} did not hand out gcloud credentials ({type(exc).__name__})"
        ) from exc
    config = state_dir / "deploy-gcloud"
    key = prepare_config(config, body["key_file"])
    return gcloud_environment(url, config, key, body["project"], region=region or DEFAULT_REGION)


def emulator_iap_jwks_url(state_dir: Path) -> str:
    """Where the emulator running on ``state_dir`` publishes IAP's keys (the path of Google's JWKS URL)."""
    from cloudgate.emulator.core.state import read_address

    url = read_address(state_dir)
    if url is None:
        raise EmulatorError(f"no emulator is running on {state_dir}")
    return f"{url.rstrip('/')}/iap/verify/public_key-jwk"


def local_command(source: Path, app: str | None) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(image, command, args)`` of a revision that runs ``cloudgate serve [APP]`` in ``source``."""
    from cloudgate.knative import LOCAL_COMMAND_IMAGE

    cloudgate = Path(sys.executable).parent / "cloudgate"
    serve = shlex.join([str(cloudgate), "serve", *([app] if app else [])])
    line = f"cd {shlex.quote(str(source.resolve()))} && {_LAUNCH}exec {serve}"
    return LOCAL_COMMAND_IMAGE, ("sh",), ("-c", line)
