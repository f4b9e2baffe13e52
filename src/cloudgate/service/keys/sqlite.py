"""API key store in an SQLite file: the embedded default, read-write, safe across processes.

The CLI (``cloudgate keys``) and the running service share the file; SQLite's own locking keeps them consistent,
so a revocation is seen by the service on its next request.

The service holds one connection, and an open connection keeps reading its file even after the file is moved or
deleted. So each use first checks that the path still names the file it opened: a file gone from the path is an
unavailable store (``KeyStoreError``: 503), never a stale copy that keeps accepting keys, and a file put back (or
replaced) is reopened. The service opens the file read-write but never creates it (``mode=rw``), so a typo or a
file removed at the wrong moment cannot become an empty store. Lookups are one at a time (``lookup_concurrency``:
one connection), and wait at most ``_BUSY_TIMEOUT_S`` for a lock another process holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys.store import KeyRecord, KeyStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
)
"""
#: How long a statement waits for a lock another connection holds (with WAL, readers wait only for an exclusive
#: locking-mode holder or a recovery; writers wait for each other).
_BUSY_TIMEOUT_S = 5.0
_COLUMNS = "key_id, name, scopes, secret_hash, created_at, expires_at, revoked_at"


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _record(row: tuple[str, str, str, str, str, str | None, str | None]) -> KeyRecord:
    key_id, name, scopes, secret_hash, created_at, expires_at, revoked_at = row
    return KeyRecord(
        key_id=key_id,
        name=name,
        scopes=frozenset(json.loads(scopes)),
        secret_hash=secret_hash,
        created_at=datetime.fromisoformat(created_at),
        expires_at=_dt(expires_at),
        revoked_at=_dt(revoked_at),
    )


class SqliteKeyStore(KeyStore):
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path``; the folder is created if needed."""

    #: One connection serves one statement at a time: the cache queues lookups itself (see ``cache``).
    lookup_concurrency = 1

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        #: The CLI creates stores; the service only opens existing ones (a typo must not become an empty store).
        self.may_create = create
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        #: ``(st_dev, st_ino)`` of the file the connection has open.
        self._opened: tuple[int, int] | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._file_identity() != self._opened:
            self._drop()  # moved, deleted or replaced: never keep reading the old file
        if self._conn is None:
            if not self.may_create and not self.path.exists():
                if self._opened is not None:
                    raise KeyStoreError(f"the key store {self.path} is gone (moved or deleted)")
                raise KeyStoreError(f"no key store at {self.path} (create keys with `cloudgate keys create`)")
            conn = None
            try:
                if self.may_create:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    target: str | Path = self.path
                else:
                    target = self.path.absolute().as_uri() + "?mode=rw"
                conn = sqlite3.connect(
                    target,
                    check_same_thread=False,
                    timeout=_BUSY_TIMEOUT_S,
                    isolation_level=None,
                    uri=not self.may_create,
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                if conn is not None:
                    conn.close()
                raise KeyStoreError(f"cannot open key store {self.path}: {exc}") from exc
            with contextlib.suppress(OSError):
                self.path.chmod(0o600)
            self._conn, self._opened = conn, self._file_identity()
        return self._conn

    def _file_identity(self) -> tuple[int, int] | None:
        """Which file the path names now (None: no file there)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyStoreError(f"cannot read key store {self.path}: {exc}") from exc
        return st.st_dev, st.st_ino

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def get(self, key_id: str) -> KeyRecord | None:
        with self._lock:
            try:
                row = (
                    self._connect()
                    .execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))  # noqa: S608
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise KeyStoreError(f"cannot read key store {self.path}: {exc}") from exc
        return _record(row) if row else None

    def list(self) -> list[KeyRecord]:
        with self._lock:
            try:
                rows = self._connect().execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at").fetchall()  # noqa: S608
            except sqlite3.Error as exc:
                raise KeyStoreError(f"cannot read key store {self.path}: {exc}") from exc
        return [_record(row) for row in rows]

    def add(self, record: KeyRecord) -> None:
        values = (
            record.key_id,
            record.name,
            json.dumps(sorted(record.scopes)),
            record.secret_hash,
            record.created_at.isoformat(),
            _ts(record.expires_at),
            _ts(record.revoked_at),
        )
        with self._lock:
            try:
                self._connect().execute(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", values)  # noqa: S608
            except sqlite3.Error as exc:
                raise KeyStoreError(f"cannot write key store {self.path}: {exc}") from exc

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        with self._lock:
            try:
                cur = self._connect().execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                    (at.isoformat(), key_id),
                )
            except sqlite3.Error as exc:
                raise KeyStoreError(f"cannot write key store {self.path}: {exc}") from exc
        if cur.rowcount == 0:
            raise KeyStoreError(f"no API key with id {key_id!r}")
        record = self.get(key_id)
        assert record is not None
        return record

    def close(self) -> None:
        with self._lock:
            self._drop()
