"""API key store in a JSON file of hashes: what a Secret Manager volume mount provides on Cloud Run.

The service only reads it, and re-reads it when the file changes (Secret Manager mounts swap in new versions,
so rotation and revocation work without a redeploy). The CLI can write it locally (``cloudgate keys create
--keystore file:///keys.json``) before it is uploaded as a secret version. Format::

    {"keys": [{"key_id": "...", "name": "...", "scopes": ["datasets:read"], "secret_hash": "<sha256 hex>",
               "created_at": "2026-01-01T00:00:00+00:00", "expires_at": null, "revoked_at": null}]}
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys.store import KeyRecord, KeyStore, validate_scopes

logger = logging.getLogger(__name__)

#: How often, at most, the file's modification time is looked at (a stat per request would be wasteful).
_RECHECK_SECONDS = 1.0


def _parse(entry: dict[str, Any]) -> KeyRecord:
    def dt(name: str) -> datetime | None:
        value = entry.get(name)
        return datetime.fromisoformat(value) if value else None

    created = dt("created_at")
    if created is None:
        raise ValueError("created_at is required")
    return KeyRecord(
        key_id=str(entry["key_id"]),
        name=str(entry["name"]),
        scopes=validate_scopes(entry.get("scopes", [])),
        secret_hash=str(entry["secret_hash"]),
        created_at=created,
        expires_at=dt("expires_at"),
        revoked_at=dt("revoked_at"),
    )


def _dump(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "name": record.name,
        "scopes": sorted(record.scopes),
        "secret_hash": record.secret_hash,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


class FileKeyStore(KeyStore):
    """``file:///absolute/path.json`` or ``file://relative/path.json``."""

    def __init__(self, url: str) -> None:
        self.url = url
        raw = url.removeprefix("file://")
        self.path = Path(raw)
        self._lock = threading.Lock()
        self._records: dict[str, KeyRecord] = {}
        self._signature: tuple[int, int] | None = None
        self._checked_at = float("-inf")
        self._loaded = False

    def _load(self) -> dict[str, KeyRecord]:
        now = time.monotonic()
        if now - self._checked_at < _RECHECK_SECONDS:
            return self._records
        with self._lock:
            self._checked_at = now
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._records, self._signature = {}, None
                return self._records
            except OSError as exc:
                raise KeyStoreError(f"cannot read key file {self.path}: {exc}") from exc
            signature = (st.st_mtime_ns, st.st_size)
            if signature != self._signature:
                self._signature = signature
                try:
                    self._records = self._read()
                except KeyStoreError:
                    if self._loaded:
                        # A bad new version (say, a truncated secret) must not lock every caller out: keep the
                        # last good keys until the file changes again.
                        logger.error(
                            "key file %s could not be read; keeping the previous API keys until it changes", self.path
                        )
                        return self._records
                    self._signature = None
                    raise
                self._loaded = True
            return self._records

    def _read(self) -> dict[str, KeyRecord]:
        try:
            data = json.loads(self.path.read_text())
            records = [_parse(entry) for entry in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never echo file content: it is a secret mount.
            raise KeyStoreError(
                f"key file {self.path} is not a valid cloudgate key file ({type(exc).__name__})"
            ) from exc
        return {record.key_id: record for record in records}

    def get(self, key_id: str) -> KeyRecord | None:
        return self._load().get(key_id)

    def list(self) -> list[KeyRecord]:
        return sorted(self._load().values(), key=lambda r: r.created_at)

    def _write(self, records: dict[str, KeyRecord]) -> None:
        payload = json.dumps({"keys": [_dump(r) for r in records.values()]}, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(payload + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise KeyStoreError(f"cannot write key file {self.path}: {exc}") from exc
        self._checked_at = float("-inf")

    def add(self, record: KeyRecord) -> None:
        self._checked_at = float("-inf")
        records = dict(self._load())
        records[record.key_id] = record
        self._write(records)

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        self._checked_at = float("-inf")
        records = dict(self._load())
        record = records.get(key_id)
        if record is None:
            raise KeyStoreError(f"no API key with id {key_id!r}")
        if record.revoked_at is None:
            from dataclasses import replace

            record = replace(record, revoked_at=at)
            records[key_id] = record
            self._write(records)
        return record
