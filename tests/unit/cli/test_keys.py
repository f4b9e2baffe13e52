"""``cloudgate keys``: the commands as the console script runs them (in-process, ``tests/cli.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudgate.service.keys import authenticate, open_keystore
from tests.cli import Ran, run_cloudgate


def run(*args: str) -> Ran:
    return run_cloudgate("keys", *args)


def test_create_prints_only_the_secret_on_stdout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    result = run("create", "etl", "--scope", "datasets:read", "--expires", "30d", "--keystore", url)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout.count("\n") == 1 and secret.startswith("cgk_")
    assert secret not in result.stderr
    record = authenticate(open_keystore(url), secret)
    assert record.scopes == frozenset({"datasets:read"}) and record.expires_at is not None


def test_list_json_shows_state_but_no_secret_or_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    record, secret = open_keystore(url).create("etl", ["a:b"])
    result = run("list", "--json", "--keystore", url)
    rows = json.loads(result.stdout)
    assert rows[0]["key_id"] == record.key_id and rows[0]["state"] == "active"
    assert secret not in result.stdout and record.secret_hash not in result.stdout


def test_revoke_by_pasting_the_whole_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    record, secret = open_keystore(url).create("etl", [])
    result = run("revoke", secret, "--keystore", url)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stderr
    assert open_keystore(url).get(record.key_id).state() == "revoked"  # type: ignore[union-attr]


def test_keystore_from_the_environment(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'keys.json'}"
    result = run_cloudgate("keys", "create", "ci", env={"CLOUDGATE_KEYSTORE": url})
    assert result.returncode == 0, result.stderr
    assert open_keystore(url).list()[0].name == "ci"


def test_bad_expiry_is_a_clean_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("create", "etl", "--expires", "tomorrow-ish", "--keystore", f"sqlite:///{tmp_path / 'k.db'}")
    assert result.returncode == 2
    assert "cannot read expiry" in result.stderr and "Traceback" not in result.stderr


def test_revoking_an_unknown_key_is_a_clean_error(tmp_path: Path) -> None:
    result = run("revoke", "0123456789abcdef", "--keystore", f"sqlite:///{tmp_path / 'k.db'}")
    assert result.returncode == 1
    assert "no API key" in result.stderr and "Traceback" not in result.stderr


def test_revoke_by_a_name_only_one_key_has(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    store = open_keystore(url)
    etl, _ = store.create("etl", [])
    other, _ = store.create("web", [])
    result = run("revoke", "etl", "--keystore", url)
    assert result.returncode == 0, result.stderr
    assert [(r.key_id, r.state()) for r in open_keystore(url).list()] == [
        (etl.key_id, "revoked"),
        (other.key_id, "active"),
    ]


def test_revoke_by_a_name_two_active_keys_have_names_both_and_revokes_neither(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    first, _ = open_keystore(url).create("etl", [])
    second, _ = open_keystore(url).create("etl", [])
    result = run("revoke", "etl", "--keystore", url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert first.key_id in result.stderr and second.key_id in result.stderr
    assert {r.state() for r in open_keystore(url).list()} == {"active"}


@pytest.mark.parametrize("given", ["../../etc/passwd", "a/b", "", "cgk_zz", "0123456789ABCDEF", "x" * 300])
@pytest.mark.parametrize("store", ["sqlite", "file", "firestore"])
def test_a_malformed_key_id_is_a_clean_error_in_every_store(
    store: str, given: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store == "firestore":
        request.getfixturevalue("firestore_host")  # the real Firestore emulator (FIRESTORE_EMULATOR_HOST)
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'k.db'}",
        "file": f"file://{tmp_path / 'keys.json'}",
        "firestore": f"firestore://demo-project/keys-{tmp_path.name}",
    }[store]
    open_keystore(url).create("etl", [])
    result = run("revoke", given, "--keystore", url)
    assert (result.returncode, result.stdout) == (2, "")
    assert "no API key with the id or name" in result.stderr and "Traceback" not in result.stderr


def test_list_off_a_terminal_keeps_every_column_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    name = "etl-nightly-export-to-the-warehouse"
    record, _ = open_keystore(url).create(name, ["datasets:admin", "datasets:read", "datasets:write"])
    result = run("list", "--keystore", url)  # stdout is a pipe here
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if record.key_id in line)
    assert name in row and "datasets:admin datasets:read datasets:write" in row
