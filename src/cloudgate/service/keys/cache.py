"""A short-lived in-memory cache in front of a key store, so a request costs a dict lookup, not a query.

Every authenticated request looks its key up; SQLite takes ~25 us for that with row decoding, and a remote store
(Firestore) a network round trip. Records are kept ``ttl`` seconds, so a revocation made elsewhere takes effect
within that time (``CLOUDGATE_KEY_CACHE_SECONDS``, default 2 s; 0 disables the cache).

Unknown ids are remembered too, in a separate, smaller table: repeating a made-up key costs no query, and a flood
of fresh made-up ids (each one costs a query, as it must) can only churn that table, never push real keys out.
Both tables drop their oldest entries first when full.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TypeVar

from cloudgate.service.keys.store import KeyRecord, KeyStore

_V = TypeVar("_V")
_MAX_ENTRIES = 10_000
_MAX_UNKNOWN = 1_000


class CachedKeyStore(KeyStore):
    """Reads through to ``inner`` at most once per ``ttl`` seconds per key id; writes go straight through."""

    def __init__(self, inner: KeyStore, ttl: float) -> None:
        self.inner = inner
        self.url = inner.url
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KeyRecord]] = {}
        self._unknown: dict[str, float] = {}

    def get(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        entry = self._entries.get(key_id)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        seen = self._unknown.get(key_id)
        if seen is not None and now - seen < self.ttl:
            return None
        record = self.inner.get(key_id)
        if record is None:
            _put(self._unknown, key_id, now, _MAX_UNKNOWN)
        else:
            self._unknown.pop(key_id, None)
            _put(self._entries, key_id, (now, record), _MAX_ENTRIES)
        return record

    def list(self) -> list[KeyRecord]:
        return self.inner.list()

    def add(self, record: KeyRecord) -> None:
        self._entries.pop(record.key_id, None)
        self._unknown.pop(record.key_id, None)
        self.inner.add(record)

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        self._entries.pop(key_id, None)
        return self.inner.revoke(key_id, at)

    def close(self) -> None:
        self._entries.clear()
        self._unknown.clear()
        self.inner.close()


def _put(table: dict[str, _V], key: str, value: _V, limit: int) -> None:
    """Insert as the newest entry; when full, drop the oldest (dicts keep insertion order)."""
    table.pop(key, None)
    if len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value
