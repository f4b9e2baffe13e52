"""A short-lived in-memory cache in front of a key store, so a request costs a dict lookup, not a query.

Every authenticated request looks its key up; SQLite takes ~25 us for that with row decoding, and a remote store
(Firestore) a network round trip. Records are kept ``ttl`` seconds, so a revocation made elsewhere takes effect
within that time (``CLOUDGATE_KEY_CACHE_SECONDS``, default 2 s; 0 disables the cache).

Unknown ids are remembered too, in a separate, smaller table: repeating a made-up key costs no query, and a flood
of fresh made-up ids (each one costs a query, as it must) can only churn that table, never push real keys out.
Both tables drop their oldest entries first when full.

On the event loop (``aget``) a miss runs the store's lookup in a worker thread, and concurrent requests for the same
id share that one lookup. At most ``inner.lookup_concurrency`` lookups run at once (one for SQLite's single
connection); the others wait here, on the event loop, rather than in worker threads where nothing could call them
off. A lookup that fails (the store is unreachable, or locked past its busy timeout) is not remembered as
"unknown": the request gets ``KeyStoreError`` (503), never a 401; and for ``_FAILURE_COOLDOWN_S`` after a failure,
misses fail at once, the queued ones included, instead of each waiting out its own timeout on a store that is down
(without that, N distinct unknown ids behind a locked SQLite file waited N busy timeouts). Cached records keep
working meanwhile, until their entry ends; then the key gets 503 like any other until the store is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import anyio
import anyio.to_thread

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys.store import KeyRecord, KeyStore

_V = TypeVar("_V")
_MAX_ENTRIES = 10_000
_MAX_UNKNOWN = 1_000
_FAILURE_COOLDOWN_S = 1.0


class CachedKeyStore(KeyStore):
    """Reads through to ``inner`` at most once per ``ttl`` seconds per key id; writes go straight through."""

    def __init__(self, inner: KeyStore, ttl: float, *, clock: Callable[[], float] | None = None) -> None:
        self.inner = inner
        self.url = inner.url
        self.ttl = ttl
        self._clock = clock or _monotonic
        self._entries: dict[str, tuple[float, KeyRecord]] = {}
        self._unknown: dict[str, float] = {}
        self._pending: dict[str, anyio.Event] = {}
        self._failed_at: float | None = None
        self._lookups: anyio.CapacityLimiter | None = None  # made on the event loop, at the first lookup
        self._on_write: list[Callable[[], None]] = []

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the cache periods are measured on (monotonic seconds; a test may move it)."""
        return self._clock

    def fresh_until(self, key_id: str) -> float | None:
        """When the cached record of ``key_id`` must be read again (on ``clock``), or None if none is cached.

        Whatever remembers an answer built from that record (the authenticator's recent principals) keeps it no
        longer than this, so a revocation made elsewhere still takes effect within the cache period.
        """
        entry = self._entries.get(key_id)
        return None if entry is None else entry[0] + self.ttl

    def on_write(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever a key is added or revoked through this cache (such a change is seen at once)."""
        self._on_write.append(forget)

    def _written(self) -> None:
        for forget in self._on_write:
            forget()

    def _cached(self, key_id: str, now: float) -> tuple[bool, KeyRecord | None]:
        """``(True, answer)`` when the cache knows (a record, or None for a known-unknown id), else ``(False, None)``."""
        entry = self._entries.get(key_id)
        if entry is not None and now - entry[0] < self.ttl:
            return True, entry[1]
        seen = self._unknown.get(key_id)
        return seen is not None and now - seen < self.ttl, None

    def _store(self, key_id: str, record: KeyRecord | None, now: float) -> None:
        if record is None:
            _put(self._unknown, key_id, now, _MAX_UNKNOWN)
        else:
            self._unknown.pop(key_id, None)
            _put(self._entries, key_id, (now, record), _MAX_ENTRIES)

    def get(self, key_id: str) -> KeyRecord | None:
        now = self._clock()
        known, cached = self._cached(key_id, now)
        if known:
            return cached
        record = self.inner.get(key_id)
        self._store(key_id, record, now)
        return record

    async def aget(self, key_id: str) -> KeyRecord | None:
        while True:
            known, cached = self._cached(key_id, self._clock())
            if known:
                return cached
            pending = self._pending.get(key_id)
            if pending is None:
                break
            await pending.wait()  # another request is looking this id up: share its answer
            if self._failed_recently():
                raise KeyStoreError("the key store lookup failed")
        if self._failed_recently():
            raise KeyStoreError("the key store failed less than a second ago")
        done = self._pending[key_id] = anyio.Event()
        if self._lookups is None:
            self._lookups = anyio.CapacityLimiter(self.inner.lookup_concurrency)
        try:
            async with self._lookups:
                if self._failed_recently():  # it failed while this one waited its turn
                    raise KeyStoreError("the key store failed less than a second ago")
                started = self._clock()
                try:
                    record = await self.inner.aget(key_id)
                except KeyStoreError:
                    self._failed_at = self._clock()
                    raise
                self._failed_at = None
                self._store(key_id, record, started)
                return record
        finally:
            del self._pending[key_id]
            done.set()

    def _failed_recently(self) -> bool:
        return self._failed_at is not None and self._clock() - self._failed_at < _FAILURE_COOLDOWN_S

    def list(self) -> list[KeyRecord]:
        return self.inner.list()

    def add(self, record: KeyRecord) -> None:
        self._entries.pop(record.key_id, None)
        self._unknown.pop(record.key_id, None)
        self._written()
        self.inner.add(record)

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        self._entries.pop(key_id, None)
        self._written()
        return self.inner.revoke(key_id, at)

    def close(self) -> None:
        self._entries.clear()
        self._unknown.clear()
        self._written()
        self.inner.close()


def _monotonic() -> float:
    return time.monotonic()  # looked up per call, so a test can move it


def _put(table: dict[str, _V], key: str, value: _V, limit: int) -> None:
    """Insert as the newest entry; when full, drop the oldest (dicts keep insertion order)."""
    table.pop(key, None)
    if len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value
