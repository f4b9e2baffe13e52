"""How ``cloudgate emulator accounts/users/services/project/settings`` change the state: through the running
emulator when there is one, so that it stays the one writer of its state.

``emulator.json`` in the state folder (written by the running emulator, as ``gcloud-env`` reads it) names the
emulator: the change goes to its admin API. With none running, the change is applied to the folder directly. The
change itself (checks included) is one function either way (``emulator/control/state_changes.py``); this module
only picks the way and turns a refusal or a silent emulator into one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Where an emulator answers when none runs on the state folder and no --emulator-url says otherwise.
DEFAULT_EMULATOR_URL = "http://127.0.0.1:8089"


def apply_change(state_dir: Path, command: str, body: dict[str, Any]) -> dict[str, Any]:
    """Make the change of ``command`` (``"accounts create"``, ...) with ``body``; returns the change's answer.

    ``ConfigError`` (exit code 2) when the change is refused, with its reason, whichever way it went;
    ``EmulatorError`` when the running emulator does not answer.
    """
    from cloudgate.emulator.control.state_changes import CHANGES
    from cloudgate.emulator.core.state import StateStore, read_address
    from cloudgate.errors import CloudgateError, ConfigError

    change = CHANGES[command]
    url = read_address(state_dir)
    if url is not None:
        return _send(url, state_dir, change.method, change.path, body)
    try:
        return change.apply(StateStore(state_dir), body, f"{DEFAULT_EMULATOR_URL}/token")
    except ConfigError:
        raise
    except CloudgateError as exc:  # a refused change: the error (and exit code) the running emulator's 400 gives
        raise ConfigError(str(exc)) from exc


def rotate_signing_key(state_dir: Path) -> str:
    """A new signing key (the previous one stays published); its kid. Made by the running emulator when there is
    one (it signs with it at once and publishes it), else in the folder's ``signing/``."""
    from cloudgate.emulator.core.keys import SigningKeys
    from cloudgate.emulator.core.state import read_address

    url = read_address(state_dir)
    if url is None:
        return SigningKeys(state_dir / "signing").rotate()
    return str(_send(url, state_dir, "POST", "/admin/keys/rotate", None)["kid"])


def _send(url: str, state_dir: Path, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    import httpx

    from cloudgate.errors import ConfigError, EmulatorError

    try:
        answer = httpx.request(method, f"{url.rstrip('/')}{path}", json=body, timeout=60, trust_env=False)
    except httpx.HTTPError as exc:
        raise EmulatorError(
            f"the emulator running on {state_dir} (at {url}) did not answer ({type(exc).__name__}): "
            "wait until it has started, or stop it and try again"
        ) from exc
    try:
        data = answer.json()
    except ValueError:
        data = None
    if answer.status_code != 200 or not isinstance(data, dict):
        detail = data.get("detail") if isinstance(data, dict) else None
        if answer.status_code == 400 and detail:
            raise ConfigError(str(detail))  # the change refused: the same error (and exit code) as with no emulator
        raise EmulatorError(str(detail or f"the emulator at {url} answered HTTP {answer.status_code} to {path}"))
    return data
