"""A short-lived in-memory cache in front of a key store, so a request costs a dict lookup, not a query.

Every authenticated request looks its key up; SQLite takes ~25 us for that with row decoding, and a remote store
(Firestore) a network round trip. Records are kept ``ttl`` seconds, so a revocation made elsewhere takes effect
within that time (``CLOUDGATE_KEY_CACHE_SECONDS``, default 2 s; 0 disables the cache). Unknown ids are cached too,
so a flood of made-up keys cannot turn into a flood of store queries; the cache is bounded.
"""

from __future__ import annotations

import time
from datetime import datetime

from cloudgate.service.api_keys import KeyRecord, KeyStore

_MAX_ENTRIES = 10_000


class CachedKeyStore(KeyStore):
    """Reads through to ``inner`` at most once per ``ttl`` seconds per key id; writes go straight through."""

    def __init__(self, inner: KeyStore, ttl: float) -> None:
        self.inner = inner
        self.url = inner.url
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}

    def get(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        entry = self._entries.get(key_id)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        record = self.inner.get(key_id)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_id] = (now, record)
        return record

    def list(self) -> list[KeyRecord]:
        return self.inner.list()

    def add(self, record: KeyRecord) -> None:
        self._entries.pop(record.key_id, None)
        self.inner.add(record)

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        self._entries.pop(key_id, None)
        return self.inner.revoke(key_id, at)

    def close(self) -> None:
        self._entries.clear()
        self.inner.close()
