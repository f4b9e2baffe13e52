"""The SQLite store as the service opens it (``create=False``) when its file is moved, deleted, replaced or locked."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys import open_keystore
from cloudgate.service.keys import sqlite as sqlite_store
from cloudgate.service.keys.store import KeyStore


def _store_with_a_key(path: Path) -> str:
    writer = open_keystore(f"sqlite:///{path}")
    record, _ = writer.create("k", ["s"])
    writer.close()
    return record.key_id


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "keys.sqlite3"


@pytest.fixture
def service_store(path: Path) -> KeyStore:
    return open_keystore(f"sqlite:///{path}", create=False)


def test_a_moved_key_file_is_unavailable_not_a_stale_copy(path: Path, service_store: KeyStore) -> None:
    """An open connection would keep reading the moved file: the store must notice and refuse to answer."""
    key_id = _store_with_a_key(path)
    assert service_store.get(key_id) is not None
    path.rename(path.with_name("aside.sqlite3"))
    with pytest.raises(KeyStoreError, match="gone"):
        service_store.get(key_id)
    path.with_name("aside.sqlite3").rename(path)
    assert service_store.get(key_id) is not None


def test_a_deleted_key_file_is_unavailable_and_never_recreated(path: Path, service_store: KeyStore) -> None:
    key_id = _store_with_a_key(path)
    assert service_store.get(key_id) is not None
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        path.with_name(name).unlink(missing_ok=True)
    with pytest.raises(KeyStoreError):
        service_store.get(key_id)
    assert not path.exists()


def test_a_replaced_key_file_is_reopened(path: Path, service_store: KeyStore) -> None:
    """A new file at the path (a restored backup, another version): its keys count, the old file's do not."""
    old_id = _store_with_a_key(path)
    assert service_store.get(old_id) is not None
    new_path = path.with_name("new.sqlite3")
    new_id = _store_with_a_key(new_path)
    os.replace(new_path, path)
    assert service_store.get(new_id) is not None
    assert service_store.get(old_id) is None


def test_a_file_locked_by_another_connection_is_a_key_store_error(
    path: Path, service_store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection in exclusive locking mode: the lookup gives up after the busy timeout (shortened here)."""
    monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_S", 0.05)
    key_id = _store_with_a_key(path)
    locker = sqlite3.connect(path, isolation_level=None, timeout=0)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("COMMIT")
    try:
        with pytest.raises(KeyStoreError, match="locked"):
            service_store.get(key_id)
    finally:
        locker.close()
    assert service_store.get(key_id) is not None
