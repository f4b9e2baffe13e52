"""The Firestore key store against the real Firestore emulator: records, the service's lookups, outages, the CLI."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from fastapi import FastAPI

from cloudgate.errors import ConfigError, KeyStoreError
from cloudgate.service import KeyCaller, ServiceSettings, protect
from cloudgate.service.keys import KeyRecord, authenticate, open_keystore
from cloudgate.service.keys import cache as cache_module
from cloudgate.service.keys.firestore import FirestoreKeyStore, parse_url
from tests.cli import Ran, run_cloudgate
from tests.firestore_emulator import fresh_collection_url
from tests.tcp_relay import TcpRelay


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lookups:
    """Counts the store's real ``get`` calls on the Firestore store class, and the threads they ran on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[int] = []
        real = FirestoreKeyStore.get

        def counted(store: FirestoreKeyStore, key_id: str) -> KeyRecord | None:
            self.threads.append(threading.get_ident())
            return real(store, key_id)

        monkeypatch.setattr(FirestoreKeyStore, "get", counted)

    @property
    def count(self) -> int:
        return len(self.threads)


@asynccontextmanager
async def service(url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, str | None]:
        return {"key": caller.key_name}

    protect(app, ServiceSettings(keystore=url, identity="off", **settings))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
    ):
        yield client


def key(secret: str) -> dict[str, str]:
    return {"X-API-Key": secret}


# The store


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("firestore://my-project/api-keys", ("my-project", "(default)", "api-keys")),
        ("firestore://my-project/keys-db/api_keys", ("my-project", "keys-db", "api_keys")),
    ],
)
def test_urls_name_project_optional_database_and_collection(url: str, parts: tuple[str, str, str]) -> None:
    assert parse_url(url) == parts


@pytest.mark.parametrize(
    "url", ["firestore://", "firestore://p", "firestore://my-project/a/b/c", "firestore://my-project/bad name"]
)
def test_a_malformed_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="firestore://PROJECT"):
        open_keystore(url)


def test_records_round_trip_and_revocation_keeps_the_first_time(firestore_host: str) -> None:
    store = open_keystore(fresh_collection_url())
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    record, secret = store.create("etl", ["datasets:read", "datasets:write"], expires)
    other, _ = store.create("other", [])
    assert store.get(record.key_id) == record
    assert store.get("0123456789abcdef") is None
    listed = store.list()
    assert {r.key_id for r in listed} == {record.key_id, other.key_id}
    assert [r.created_at for r in listed] == sorted(r.created_at for r in listed)
    assert authenticate(store, secret) == record
    first = store.revoke(record.key_id, datetime(2026, 1, 1, tzinfo=UTC))
    again = store.revoke(record.key_id, datetime(2026, 6, 1, tzinfo=UTC))
    assert first.revoked_at == again.revoked_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert store.get(record.key_id).state() == "revoked"  # type: ignore[union-attr]
    with pytest.raises(KeyStoreError, match="no API key"):
        store.revoke("fedcba9876543210", datetime.now(UTC))
    store.close()


def test_without_the_package_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.firestore", None)  # how a missing extra looks to an import
    with pytest.raises(ConfigError, match=r"pip install 'cloudgate\[firestore\]'"):
        open_keystore("firestore://my-project/api-keys")


# The service


@pytest.mark.anyio
async def test_a_key_in_firestore_is_accepted_and_looked_up_off_the_event_loop(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_collection_url()
    _, secret = open_keystore(url).create("etl", [])
    lookups = Lookups(monkeypatch)
    async with service(url) as client:
        response = await client.get("/v1/whoami", headers=key(secret))
    assert response.status_code == 200 and response.json() == {"key": "etl"}
    assert lookups.count == 1
    assert threading.get_ident() not in lookups.threads


@pytest.mark.anyio
async def test_a_made_up_key_costs_one_lookup_per_cache_period(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(cache_module, "_monotonic", clock)
    lookups = Lookups(monkeypatch)
    made_up = key("cgk_0123456789abcdef_" + "x" * 43)
    statuses: list[int] = []
    async with service(fresh_collection_url(), key_cache_seconds=2) as client:

        async def call() -> None:
            statuses.append((await client.get("/v1/whoami", headers=made_up)).status_code)

        async with anyio.create_task_group() as group:  # a parallel flood shares one lookup
            for _ in range(20):
                group.start_soon(call)
        for _ in range(20):
            await call()
        assert lookups.count == 1
        clock.now += 2.5
        await call()
    assert statuses == [401] * 41
    assert lookups.count == 2


@pytest.mark.anyio
async def test_firestore_unreachable_is_503_for_lookups_while_cached_keys_last_their_entry(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = TcpRelay(firestore_host)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", relay.address)
    clock = Clock()
    monkeypatch.setattr(cache_module, "_monotonic", clock)
    url = fresh_collection_url()
    store = open_keystore(url)
    _, cached = store.create("cached", [])
    _, uncached = store.create("uncached", [])
    try:
        async with service(url, key_cache_seconds=2) as client:
            assert (await client.get("/v1/whoami", headers=key(cached))).status_code == 200
            relay.cut()
            clock.now += 1.5  # the entry (2 s) still stands
            assert (await client.get("/v1/whoami", headers=key(cached))).status_code == 200
            refused = await client.get("/v1/whoami", headers=key(uncached))
            made_up = await client.get("/v1/whoami", headers=key("cgk_0123456789abcdef_" + "x" * 43))
            clock.now += 1.0  # the entry has ended: the key needs a lookup, which cannot be made
            expired_entry = await client.get("/v1/whoami", headers=key(cached))
            for response in (refused, made_up, expired_entry):
                assert response.status_code == 503
                assert response.headers["retry-after"]
                assert response.json()["error"] == "unavailable"
                assert relay.address not in response.text
            relay.restore()
            with anyio.fail_after(60):  # gRPC reconnects after its own back-off: wait for it, do not guess it
                while True:
                    clock.now += 1.0  # past the failure cool-down
                    if (await client.get("/v1/whoami", headers=key(uncached))).status_code == 200:
                        break
                    await anyio.sleep(0.2)
    finally:
        store.close()
        relay.close()


# The CLI


def test_the_cli_creates_lists_and_revokes_keys_in_firestore(firestore_host: str) -> None:
    url = fresh_collection_url()
    env = {"FIRESTORE_EMULATOR_HOST": firestore_host}

    def run(*args: str) -> Ran:
        return run_cloudgate("keys", *args, "--keystore", url, env=env)

    created = run("create", "etl", "--scope", "datasets:read")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "etl"' in listed.stdout and secret not in listed.stdout
    revoked = run("revoke", secret)
    assert revoked.returncode == 0, revoked.stderr
    assert open_keystore(url).get(secret.split("_")[1]).state() == "revoked"  # type: ignore[union-attr]
