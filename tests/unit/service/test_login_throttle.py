"""The docs login throttle shared through a real redis-server: one budget for every instance, fail closed when down.

Each "instance" is its own protected app (own memory, own guard), as two Cloud Run instances would be; they share
only the Redis URL.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pydantic
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import ConfigError
from cloudgate.service import KeyCaller, ServiceSettings, protect
from cloudgate.service.keys import open_keystore
from cloudgate.service.login_throttle import LoginThrottle
from tests.redis_server import RedisServer

PASSWORD = "a long docs password"
_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
Instance = Callable[..., Any]


@pytest.fixture(scope="module")
def users() -> str:
    return f"alice:{_CHEAP.hash(PASSWORD)}"


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, str | None]:
        return {"key": caller.key_name}

    return protect(app, settings)


@asynccontextmanager
async def instances(count: int, **settings: Any) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` separately built apps with the same settings, each started (lifespan) and stopped."""
    async with AsyncExitStack() as stack:
        clients = []
        for i in range(count):
            app = build_app(ServiceSettings(identity="off", **settings))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000 + i))
            clients.append(await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://i")))
        yield clients


@pytest.mark.anyio
async def test_failures_spread_over_instances_share_one_budget(users: str, redis_url: str) -> None:
    async with instances(3, docs_users=users, docs_max_failures=3, throttle_storage=redis_url) as (a, b, c):
        spread = [(await client.get("/docs", auth=("alice", "guess"))).status_code for client in (a, b, c)]
        after = [(await client.get("/docs", auth=("alice", PASSWORD))).status_code for client in (a, b, c)]
    assert spread == [401, 401, 401]
    assert after == [429, 429, 429]


@pytest.mark.anyio
async def test_with_memory_storage_each_instance_has_its_own_budget(users: str) -> None:
    """Why Redis is needed: in memory, a second instance knows nothing of the first one's failures."""
    async with instances(2, docs_users=users, docs_max_failures=2) as (a, b):
        assert [(await a.get("/docs", auth=("alice", "guess"))).status_code for _ in range(3)] == [401, 401, 429]
        assert (await b.get("/docs", auth=("alice", "guess"))).status_code == 401


@pytest.mark.anyio
async def test_a_parallel_burst_across_instances_is_cut_at_the_limit(users: str, redis_url: str) -> None:
    statuses: list[int] = []
    async with instances(3, docs_users=users, docs_max_failures=4, throttle_storage=redis_url) as clients:

        async def guess(i: int) -> None:
            statuses.append((await clients[i % 3].get("/docs", auth=("alice", f"burst {i}"))).status_code)

        async with anyio.create_task_group() as group:
            for i in range(15):
                group.start_soon(guess, i)
    assert sorted(statuses) == [401] * 4 + [429] * 11


@pytest.mark.anyio
async def test_a_remembered_login_works_on_through_the_shared_budget(users: str, redis_url: str) -> None:
    async with instances(1, docs_users=users, docs_max_failures=2, throttle_storage=redis_url) as (a,):
        statuses = [(await a.get("/docs", auth=("alice", PASSWORD))).status_code for _ in range(5)]
    assert statuses == [200] * 5


@pytest.mark.anyio
async def test_redis_down_fails_the_docs_login_closed_and_leaves_the_api_alone(
    users: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keystore = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    _, secret = open_keystore(keystore).create("reader", [])
    redis = RedisServer.start(tmp_path_factory.mktemp("redis-down"))
    try:
        async with instances(1, docs_users=users, keystore=keystore, throttle_storage=redis.url) as (client,):
            assert (await client.get("/docs", auth=("alice", PASSWORD))).status_code == 200
            redis.stop()
            for auth in (("alice", PASSWORD), ("alice", "guess")):
                refused = await client.get("/docs", auth=auth)
                assert refused.status_code == 503
                assert refused.headers["retry-after"] == "5"
                assert refused.json()["error"] == "unavailable"
                assert "127.0.0.1" not in refused.text
            api = await client.get("/v1/whoami", headers={"X-API-Key": secret})
            assert api.status_code == 200
            assert api.json() == {"key": "reader"}
    finally:
        redis.stop()


def test_an_unknown_storage_scheme_is_a_settings_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="memory:// or redis://"):
        ServiceSettings(throttle_storage="memcached://127.0.0.1:11211")


def test_without_the_redis_package_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what an install without the extra looks like to an import
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio.retry", None)
    with pytest.raises(ConfigError, match=r"pip install 'cloudgate\[redis\]'"):
        LoginThrottle("redis://127.0.0.1:1/0", 5, 60)
