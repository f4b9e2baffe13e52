"""The cheap path of docs/performance.md: a route calls a requirement with its request instead of ``Depends``.

It must give the same principal and the same refusals as the dependency (through httpx.ASGITransport, no network),
and with the requirement's ``openapi_extra`` the same OpenAPI documentation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from cloudgate.service import KeyCaller, Principal, ServiceSettings, protect, require_key
from cloudgate.service.keys import open_keystore
from cloudgate.service.openapi import declared_scopes


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI(title="t")
    writer = require_key("things:write")

    @app.get("/direct")
    async def direct(request: Request) -> dict[str, str | None]:
        caller = await writer(request)
        return {"key_name": caller.key_name}

    @app.get("/depends")
    async def depends(caller: KeyCaller) -> dict[str, str | None]:
        return {"key_name": caller.key_name}

    @app.get("/documented", openapi_extra=writer.openapi_extra)
    async def documented(request: Request) -> dict[str, str | None]:
        caller = await writer(request)
        return {"key_name": caller.key_name}

    @app.get("/written")
    async def written(caller: Annotated[Principal, Depends(require_key("things:write"))]) -> dict[str, str | None]:
        return {"key_name": caller.key_name}

    return protect(app, settings)


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(keystore=f"sqlite:///{tmp_path / 'keys.sqlite3'}", identity="off")


@pytest.fixture
async def client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


async def _direct_with_key(
    client: httpx.AsyncClient, settings: ServiceSettings, name: str, scope: str
) -> httpx.Response:
    """GET /direct with a new key of that name and scope."""
    key = open_keystore(settings.keystore).create(name, [scope])[1]
    return await client.get("/direct", headers={"X-API-Key": key})


@pytest.mark.anyio
async def test_a_direct_call_returns_the_callers_principal(
    client: httpx.AsyncClient, settings: ServiceSettings
) -> None:
    response = await _direct_with_key(client, settings, "writer", "things:write")
    assert response.status_code == 200
    assert response.json() == {"key_name": "writer"}


@pytest.mark.anyio
async def test_a_direct_call_refuses_a_missing_key_as_the_dependency_does(client: httpx.AsyncClient) -> None:
    direct, depends = await client.get("/direct"), await client.get("/depends")
    assert direct.status_code == 401
    assert (direct.json(), direct.headers["www-authenticate"]) == (
        depends.json(),
        depends.headers["www-authenticate"],
    )


@pytest.mark.anyio
async def test_a_direct_call_refuses_a_key_without_the_scope(
    client: httpx.AsyncClient, settings: ServiceSettings
) -> None:
    response = await _direct_with_key(client, settings, "reader", "things:read")
    assert response.status_code == 403
    assert response.json()["reason"] == "scope_missing"


def test_a_direct_call_with_openapi_extra_is_documented_as_the_dependency_is(settings: ServiceSettings) -> None:
    paths = build_app(settings).openapi()["paths"]
    documented, written = paths["/documented"]["get"], paths["/written"]["get"]
    assert documented["security"] == written["security"] == [{"ApiKeyAuth": []}]
    refusals = ("401", "403", "503")
    assert [documented["responses"][s] for s in refusals] == [written["responses"][s] for s in refusals]
    assert documented["description"] == written["description"] == "Requires API key scope: `things:write`."


def test_a_direct_call_without_openapi_extra_is_not_documented_as_protected(settings: ServiceSettings) -> None:
    operation = build_app(settings).openapi()["paths"]["/direct"]["get"]
    assert "security" not in operation and "401" not in operation["responses"]


def test_the_scope_of_a_documented_direct_call_counts_as_declared(tmp_path: Path) -> None:
    app = FastAPI()
    reader = require_key("things:read")

    @app.get("/read", openapi_extra=reader.openapi_extra)
    async def read(request: Request) -> None:
        await reader(request)

    settings = ServiceSettings(keystore=f"sqlite:///{tmp_path / 'keys.sqlite3'}", identity="off")
    assert declared_scopes(protect(app, settings)) == {"things:read"}
