"""Both key stores: SQLite (read-write, shared across processes) and the JSON file of hashes (re-read on change)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys import authenticate, open_keystore
from cloudgate.service.keys import file as keystore_file


@pytest.fixture(params=["sqlite", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    return f"file://{tmp_path / 'keys.json'}"


def test_created_key_is_listed_without_its_secret(url: str) -> None:
    store = open_keystore(url)
    record, secret = store.create("etl", ["datasets:read"], datetime.now(UTC) + timedelta(days=1))
    listed = store.list()
    assert [r.key_id for r in listed] == [record.key_id]
    assert listed[0].scopes == frozenset({"datasets:read"})
    assert listed[0].expires_at == record.expires_at
    assert secret not in repr(listed)


def test_revocation_is_seen_by_another_store_on_the_same_file(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore_file, "_RECHECK_SECONDS", 0.0)
    writer, reader = open_keystore(url), open_keystore(url)
    record, secret = writer.create("etl", [])
    assert authenticate(reader, secret).key_id == record.key_id
    writer.revoke(record.key_id, datetime.now(UTC))
    assert reader.get(record.key_id).state() == "revoked"  # type: ignore[union-attr]


def test_revoking_an_unknown_id_is_an_error(url: str) -> None:
    with pytest.raises(KeyStoreError, match="no API key"):
        open_keystore(url).revoke("0123456789abcdef", datetime.now(UTC))


def test_file_store_rereads_the_file_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore_file, "_RECHECK_SECONDS", 0.0)
    path = tmp_path / "keys.json"
    service_view = open_keystore(f"file://{path}")
    assert service_view.list() == []
    # A new secret version is mounted: written elsewhere and swapped in.
    _, secret = open_keystore(f"file://{path}").create("rotated", [])
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert authenticate(service_view, secret).name == "rotated"


def test_file_store_holds_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, secret = open_keystore(f"file://{path}").create("etl", ["datasets:read"])
    text = path.read_text()
    assert secret not in text
    assert json.loads(text)["keys"][0]["secret_hash"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_corrupt_key_file_is_a_clear_error_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [{"key_id": "x", "secret_hash": "TOPSECRETHASH"}]}')
    with pytest.raises(KeyStoreError, match="not a valid cloudgate key file") as info:
        open_keystore(f"file://{path}").list()
    assert "TOPSECRETHASH" not in str(info.value)


def test_missing_key_file_means_no_keys(tmp_path: Path) -> None:
    assert open_keystore(f"file://{tmp_path / 'absent.json'}").get("0123456789abcdef") is None


def test_a_bad_new_key_file_keeps_the_previous_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated secret version must not lock every caller out: the last good keys stay until the file changes."""
    monkeypatch.setattr(keystore_file, "_RECHECK_SECONDS", 0.0)
    path = tmp_path / "keys.json"
    _, secret = open_keystore(f"file://{path}").create("etl", [])
    service_view = open_keystore(f"file://{path}")
    assert authenticate(service_view, secret).name == "etl"
    path.write_text('{"keys": [')
    assert authenticate(service_view, secret).name == "etl"


def test_a_bad_key_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [')
    with pytest.raises(KeyStoreError):
        open_keystore(f"file://{path}").get("0123456789abcdef")
