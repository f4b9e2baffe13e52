"""``RecentPrincipals`` through a protected app: a repeat is a lookup, never longer than what it was built from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from cloudgate.service import KeyCaller, ServiceSettings, protect
from cloudgate.service.keys import cache as cache_module
from cloudgate.service.keys import open_keystore
from cloudgate.service.keys.store import KeyStore
from cloudgate.service.recent import RecentPrincipals


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(cache_module, "_monotonic", clock)
    return clock


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids looked up in the key store (through the key cache) since the app started."""
    seen: list[str] = []
    original = KeyStore.aget

    async def counted(self: KeyStore, key_id: str) -> object:
        seen.append(key_id)
        return await original(self, key_id)

    monkeypatch.setattr(KeyStore, "aget", counted)
    return seen


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(keystore=f"sqlite:///{tmp_path / 'keys.sqlite3'}", identity="off", key_cache_seconds=2)


@pytest.fixture
async def client(settings: ServiceSettings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, str | None]:
        return {"key_name": caller.key_name}

    protect(app, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


@pytest.mark.anyio
async def test_a_revocation_elsewhere_is_seen_once_the_key_cache_period_passes(
    client: httpx.AsyncClient, settings: ServiceSettings, clock: Clock
) -> None:
    store = open_keystore(settings.keystore)
    record, secret = store.create("etl", [])
    headers = {"X-API-Key": secret}
    assert (await client.get("/whoami", headers=headers)).status_code == 200
    store.revoke(record.key_id, datetime.now(UTC))
    clock.now += 1.5
    assert (await client.get("/whoami", headers=headers)).status_code == 200  # within the period, as before
    clock.now += 1
    assert (await client.get("/whoami", headers=headers)).status_code == 401


@pytest.mark.anyio
async def test_a_repeat_within_the_period_looks_nothing_up(
    client: httpx.AsyncClient, settings: ServiceSettings, lookups: list[str]
) -> None:
    _, secret = open_keystore(settings.keystore).create("etl", [])
    for _ in range(3):
        assert (await client.get("/whoami", headers={"X-API-Key": secret})).status_code == 200
    assert len(lookups) == 1


def test_an_entry_ends_at_its_deadline() -> None:
    from cloudgate.service.credentials import Credentials
    from cloudgate.service.principal import Principal

    clock = Clock()
    recent = RecentPrincipals(clock)
    creds = Credentials(raw=[b"kcgk_x"])
    recent.put("requirement", creds, Principal(key_name="etl"), until=clock.now + 2)
    assert recent.get("requirement", creds) == Principal(key_name="etl")
    assert recent.get("other requirement", creds) is None
    clock.now += 2
    assert recent.get("requirement", creds) is None


def test_the_table_is_bounded_and_drops_its_oldest_entry() -> None:
    from cloudgate.service.credentials import Credentials
    from cloudgate.service.principal import Principal

    clock = Clock()
    recent = RecentPrincipals(clock, max_entries=2)
    first, *others = [Credentials(raw=[f"k{i}".encode()]) for i in range(3)]
    for creds in (first, *others):
        recent.put("r", creds, Principal(), until=clock.now + 10)
    assert len(recent) == 2 and recent.get("r", first) is None
