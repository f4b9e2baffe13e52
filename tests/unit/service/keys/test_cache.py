"""The in-memory cache in front of a key store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudgate.service.keys import KeyRecord, open_keystore
from cloudgate.service.keys import cache as keystore_cache
from cloudgate.service.keys.cache import CachedKeyStore


class CountingStore:
    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.url = inner.url
        self.gets = 0

    def get(self, key_id: str) -> KeyRecord | None:
        self.gets += 1
        return self.inner.get(key_id)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


@pytest.fixture
def counting(tmp_path: Path) -> CountingStore:
    return CountingStore(open_keystore(f"sqlite:///{tmp_path / 'k.db'}"))


def test_repeated_lookups_within_ttl_hit_the_store_once(counting: CountingStore) -> None:
    record, _ = counting.inner.create("etl", [])
    cache = CachedKeyStore(counting, ttl=60)  # type: ignore[arg-type]
    for _ in range(100):
        assert cache.get(record.key_id) == record
    assert counting.gets == 1


def test_unknown_ids_are_cached_too(counting: CountingStore) -> None:
    cache = CachedKeyStore(counting, ttl=60)  # type: ignore[arg-type]
    for _ in range(10):
        assert cache.get("0123456789abcdef") is None
    assert counting.gets == 1


def test_revocation_elsewhere_is_seen_once_the_ttl_passes(
    counting: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, _ = counting.inner.create("etl", [])
    cache = CachedKeyStore(counting, ttl=2)  # type: ignore[arg-type]
    clock = [1000.0]
    monkeypatch.setattr(keystore_cache.time, "monotonic", lambda: clock[0])
    assert cache.get(record.key_id).state() == "active"  # type: ignore[union-attr]
    counting.inner.revoke(record.key_id, datetime.now(UTC))
    clock[0] += 1
    assert cache.get(record.key_id).state() == "active"  # type: ignore[union-attr]
    clock[0] += 1.5
    assert cache.get(record.key_id).state() == "revoked"  # type: ignore[union-attr]


def test_revoking_through_the_cache_takes_effect_at_once(counting: CountingStore) -> None:
    record, _ = counting.inner.create("etl", [])
    cache = CachedKeyStore(counting, ttl=60)  # type: ignore[arg-type]
    cache.get(record.key_id)
    cache.revoke(record.key_id, datetime.now(UTC))
    assert cache.get(record.key_id).state() == "revoked"  # type: ignore[union-attr]


def test_a_flood_of_made_up_ids_is_bounded_and_never_evicts_real_keys(
    counting: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keystore_cache, "_MAX_UNKNOWN", 5)
    record, _ = counting.inner.create("etl", [])
    cache = CachedKeyStore(counting, ttl=60)  # type: ignore[arg-type]
    cache.get(record.key_id)
    for i in range(50):
        assert cache.get(f"{i:016x}") is None
    assert len(cache._unknown) == 5
    before = counting.gets
    assert cache.get(record.key_id) == record
    assert counting.gets == before  # still cached


def test_known_keys_drop_the_oldest_first_when_full(counting: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore_cache, "_MAX_ENTRIES", 2)
    records = [counting.inner.create(f"k{i}", [])[0] for i in range(3)]
    cache = CachedKeyStore(counting, ttl=60)  # type: ignore[arg-type]
    for record in records:
        cache.get(record.key_id)
    assert list(cache._entries) == [records[1].key_id, records[2].key_id]
