"""API key store in an SQLite file: the embedded default, read-write, safe across processes.

The CLI (``cloudgate keys``) and the running service share the file; SQLite's own locking keeps them consistent,
so a revocation is seen by the service on its next request.
"""

from __future__ import annotations

import contextlib
import json
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

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        #: The CLI creates stores; the service only opens existing ones (a typo must not become an empty store).
        self.may_create = create
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.may_create and not self.path.exists():
                raise KeyStoreError(f"no key store at {self.path} (create keys with `cloudgate keys create`)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise KeyStoreError(f"cannot open key store {self.path}: {exc}") from exc
            with contextlib.suppress(OSError):
                self.path.chmod(0o600)
            self._conn = conn
        return self._conn

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
            if self._conn is not None:
                self._conn.close()
                self._conn = None
