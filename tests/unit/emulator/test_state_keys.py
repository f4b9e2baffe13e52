"""The state folder (persisted, reloaded when changed on disk) and the signing keys (rotation, certs forms)."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from cloudgate.emulator.core.keys import SigningKeys
from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.identity import iam
from cloudgate.errors import EmulatorError


def test_state_survives_a_new_store(tmp_path: Path) -> None:
    """What one store writes, a fresh store on the same folder reads back."""
    email = iam.create_account(StateStore(tmp_path), "persist-sa")
    assert email in StateStore(tmp_path).current().accounts


def test_running_store_sees_changes_made_elsewhere(tmp_path: Path) -> None:
    """A store that already loaded the state picks up a change another process (the CLI) wrote."""
    running = StateStore(tmp_path)
    assert running.current().accounts == {}
    iam.create_account(StateStore(tmp_path), "later-sa")
    assert "later-sa@cloudgate-local.iam.gserviceaccount.com" in running.current().accounts


def test_failed_edit_changes_nothing(tmp_path: Path) -> None:
    """An edit block that raises leaves the state as it was."""
    store = StateStore(tmp_path)
    with pytest.raises(RuntimeError), store.edit() as state:
        state.project_id = "changed"
        raise RuntimeError("boom")
    assert store.current().project_id == "cloudgate-local"


def test_malformed_state_is_a_clear_error(tmp_path: Path) -> None:
    """A damaged state file gives an EmulatorError naming the file, not a traceback from json."""
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(EmulatorError, match=r"state\.json"):
        StateStore(tmp_path).current()


@pytest.mark.parametrize("account_id", ["ab", "Upper-Case", "-leading", "x" * 31])
def test_invalid_account_ids_are_refused(tmp_path: Path, account_id: str) -> None:
    """Account ids follow Google's rule: 6-30 lowercase letters, digits, dashes."""
    with pytest.raises(EmulatorError, match="invalid service account id"):
        iam.create_account(StateStore(tmp_path), account_id)


def test_invalid_members_are_refused(tmp_path: Path) -> None:
    """IAM members must be typed (serviceAccount:, user:, ...) or allUsers."""
    store = StateStore(tmp_path)
    iam.ensure_service(store, "svc", url="http://127.0.0.1:1")
    with pytest.raises(EmulatorError, match="Invalid principal"):
        iam.grant_service_role(store, "svc", "roles/run.invoker", "someone@example.com")


def test_rotation_keeps_current_and_previous_key(tmp_path: Path) -> None:
    """After two rotations three keys were made, the newest two are published, the oldest is gone."""
    keys = SigningKeys(tmp_path)
    first = keys.current_kid
    second = keys.rotate()
    third = keys.rotate()
    assert set(keys.public_keys()) == {second, third}
    assert first not in keys.certs() and keys.current_kid == third
    assert {entry["kid"] for entry in keys.jwks()["keys"]} == {second, third}


def test_signing_keys_are_private_files_reused_on_restart(tmp_path: Path) -> None:
    """Keys are stored mode 0600 and a new SigningKeys on the folder signs with the same kid."""
    kid = SigningKeys(tmp_path).current_kid
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tmp_path.glob("*.pem"))
    token = SigningKeys(tmp_path).sign({"sub": "1"})
    assert jwt.get_unverified_header(token)["kid"] == kid
