"""Shared fixtures: a clean environment for every test (httpx ``clean_environ`` style)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.firestore_emulator import FirestoreEmulator
from tests.redis_server import RedisServer
from tests.support import running

_STRIPPED_PREFIXES = ("GOOGLE_", "CLOUDSDK_", "GCE_", "CLOUDGATE_")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Strip Google, gcloud, metadata and cloudgate variables so the machine's setup never leaks into a test."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES):
            del os.environ[name]
    # A throwaway gcloud config: tests never touch the machine's own.
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole session (127.0.0.1, a free port, nothing persisted)."""
    yield from running(RedisServer.start(tmp_path_factory.mktemp("redis")))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """One real Firestore emulator (the Cloud SDK's) for the whole session, on a free 127.0.0.1 port."""
    yield from running(FirestoreEmulator.start(tmp_path_factory.mktemp("firestore")))


@pytest.fixture
def firestore_host(firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``FIRESTORE_EMULATOR_HOST`` set to the session's emulator for this test."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    return firestore_emulator.host
