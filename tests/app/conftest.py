"""Fixtures for the dataset service: a key store with one key per scope, and the app served over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from app.main import create_app
from app.settings import DataSettings
from fastapi import FastAPI

from cloudgate.service import ServiceSettings
from cloudgate.service.keys import open_keystore

#: Rows of the sample in ASGI tests (the e2e tests use the default million).
SAMPLE_ROWS = 20_000
SCOPES = {
    "reader": ["datasets:read"],
    "writer": ["datasets:write"],
    "admin": ["datasets:admin"],
    "all": ["datasets:read", "datasets:write", "datasets:admin"],
    "none": [],
}


@pytest.fixture
def keystore_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys.sqlite3'}"


@pytest.fixture
def keys(keystore_url: str) -> dict[str, str]:
    """One API key per role in ``SCOPES``, by role name."""
    store = open_keystore(keystore_url)
    return {role: store.create(role, scopes, None)[1] for role, scopes in SCOPES.items()}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(keystore_url: str, data_dir: Path) -> AppFactory:
    """Build the app; keyword arguments override ``DataSettings`` fields, ``service`` the service settings."""

    def build(service: dict[str, Any] | None = None, **data: Any) -> FastAPI:
        data.setdefault("sample_rows", SAMPLE_ROWS)
        data.setdefault("data_dir", data_dir)
        settings = ServiceSettings(keystore=keystore_url, **(service or {}))
        return create_app(settings, DataSettings(**data))

    return build


@pytest.fixture
async def app(make_app: AppFactory) -> AsyncIterator[FastAPI]:
    application = make_app()
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI, keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a key with every dataset scope."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers={"X-API-Key": keys["all"]}
    ) as http:
        yield http


@pytest.fixture
async def sample_table(app: FastAPI, data_dir: Path) -> pa.Table:
    """The sample dataset as pyarrow reads it from disk: the independent reference for expected results."""
    await app.state.warmup.ready()  # the service writes it after start-up (app.warmup)
    return pq.read_table(data_dir / "sample.parquet")
