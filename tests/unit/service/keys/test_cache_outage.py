"""The key cache when the store behind it fails: queued lookups fail together instead of one timeout each."""

from __future__ import annotations

import threading
from datetime import datetime

import anyio
import pytest

from cloudgate.errors import KeyStoreError
from cloudgate.service.keys import KeyRecord, KeyStore
from cloudgate.service.keys.cache import CachedKeyStore


class StuckStore(KeyStore):
    """A store whose lookups block until ``release`` is set, then fail (a locked file, a network timeout)."""

    url = "stuck://"
    lookup_concurrency = 1

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.gets = 0

    def get(self, key_id: str) -> KeyRecord | None:
        self.gets += 1
        self.entered.set()
        self.release.wait(10)
        raise KeyStoreError("locked")

    def list(self) -> list[KeyRecord]:
        raise NotImplementedError

    def add(self, record: KeyRecord) -> None:
        raise NotImplementedError

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        raise NotImplementedError


@pytest.mark.anyio
async def test_lookups_queued_behind_a_failing_one_fail_with_it() -> None:
    """Ten different ids miss at once on a store that hangs then fails: one lookup runs, and all ten get
    ``KeyStoreError`` when it fails (before, each waited out its own lookup: ten timeouts in a row)."""
    inner = StuckStore()
    cache = CachedKeyStore(inner, ttl=60)
    errors: list[Exception] = []

    async def lookup(key_id: str) -> None:
        try:
            await cache.aget(key_id)
        except KeyStoreError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for n in range(10):
                group.start_soon(lookup, f"{n:016x}")
            await anyio.to_thread.run_sync(inner.entered.wait)
            inner.release.set()
    assert len(errors) == 10
    assert inner.gets == 1
