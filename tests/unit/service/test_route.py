"""``CloudgateRoute``: a requirement in a route's ``dependencies`` is checked before FastAPI solves anything, the
endpoint reads the principal with ``caller``, and the OpenAPI schema documents it as ``Depends`` would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Query, Request

from cloudgate.service import CloudgateRoute, KeyCaller, Principal, ServiceSettings, caller, protect, require_key
from cloudgate.service.keys import open_keystore

writer = require_key("things:write")


def build_app(settings: ServiceSettings, solved: list[str]) -> FastAPI:
    app = FastAPI(title="t")
    app.router.route_class = CloudgateRoute

    async def counted() -> None:
        solved.append("other")  # a dependency that is not a requirement stays FastAPI's

    @app.get("/route", dependencies=[Depends(writer), Depends(counted)])
    async def route(request: Request, n: Annotated[int, Query()] = 1) -> dict[str, str | int | None]:
        return {"key_name": caller(request).key_name, "n": n}

    @app.get("/written")
    async def written(principal: Annotated[Principal, Depends(require_key("things:write"))]) -> dict[str, str | None]:
        return {"key_name": principal.key_name}

    @app.get("/depends")
    async def depends(principal: KeyCaller) -> dict[str, str | None]:
        return {"key_name": principal.key_name}

    return protect(app, settings)


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(keystore=f"sqlite:///{tmp_path / 'keys.sqlite3'}", identity="off")


@pytest.fixture
def solved() -> list[str]:
    return []


@pytest.fixture
async def client(settings: ServiceSettings, solved: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, solved)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


def _key(settings: ServiceSettings, scope: str) -> dict[str, str]:
    return {"X-API-Key": open_keystore(settings.keystore).create("writer", [scope])[1]}


@pytest.mark.anyio
async def test_the_endpoint_reads_the_callers_principal(client: httpx.AsyncClient, settings: ServiceSettings) -> None:
    response = await client.get("/route", headers=_key(settings, "things:write"))
    assert response.status_code == 200 and response.json() == {"key_name": "writer", "n": 1}


@pytest.mark.anyio
async def test_a_missing_key_is_refused_as_the_dependency_refuses_it(client: httpx.AsyncClient) -> None:
    route, depends = await client.get("/route"), await client.get("/depends")
    assert route.status_code == 401
    assert (route.json(), route.headers["www-authenticate"]) == (depends.json(), depends.headers["www-authenticate"])


@pytest.mark.anyio
async def test_a_key_without_the_scope_is_refused(client: httpx.AsyncClient, settings: ServiceSettings) -> None:
    response = await client.get("/route", headers=_key(settings, "things:read"))
    assert response.status_code == 403 and response.json()["reason"] == "scope_missing"


@pytest.mark.anyio
async def test_the_refusal_comes_before_validation_and_before_any_dependency(
    client: httpx.AsyncClient, solved: list[str]
) -> None:
    response = await client.get("/route", params={"n": "not a number"})
    assert response.status_code == 401
    assert solved == []


def test_the_requirement_leaves_fastapi_s_dependency_tree(settings: ServiceSettings) -> None:
    route = next(r for r in build_app(settings, []).routes if getattr(r, "path", "") == "/route")
    assert isinstance(route, CloudgateRoute) and route.requirements == (writer,)
    assert writer not in [d.call for d in route.dependant.dependencies]


def test_it_is_documented_as_the_dependency_is(settings: ServiceSettings) -> None:
    paths = build_app(settings, []).openapi()["paths"]
    route, written = paths["/route"]["get"], paths["/written"]["get"]
    assert route["security"] == written["security"] == [{"ApiKeyAuth": []}]
    refusals = ("401", "403", "503")
    assert [route["responses"][s] for s in refusals] == [written["responses"][s] for s in refusals]
    assert route["description"] == written["description"] == "Requires API key scope: `things:write`."


@pytest.mark.anyio
async def test_without_cloudgate_route_the_same_declaration_is_solved_by_fastapi(settings: ServiceSettings) -> None:
    app = FastAPI()

    @app.get("/plain", dependencies=[Depends(writer)])
    async def plain(request: Request) -> dict[str, str | None]:
        return {"key_name": caller(request).key_name}

    protect(app, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        refused = await client.get("/plain")
        answered = await client.get("/plain", headers=_key(settings, "things:write"))
    assert (refused.status_code, answered.json()) == (401, {"key_name": "writer"})


@pytest.mark.anyio
async def test_an_override_of_a_route_level_requirement_applies(settings: ServiceSettings) -> None:
    app = build_app(settings, [])
    app.dependency_overrides[writer] = lambda: Principal(key_name="stand-in")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/route")  # no key: the override answers for the requirement
    assert (response.status_code, response.json()) == (200, {"key_name": "stand-in", "n": 1})


@pytest.mark.anyio
async def test_the_requirement_is_checked_again_once_the_override_is_removed(settings: ServiceSettings) -> None:
    app = build_app(settings, [])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        app.dependency_overrides[writer] = lambda: Principal(key_name="stand-in")
        assert (await client.get("/route")).status_code == 200
        app.dependency_overrides.clear()
        assert (await client.get("/route")).status_code == 401


@pytest.mark.anyio
async def test_an_override_runs_before_the_routes_other_dependencies(settings: ServiceSettings) -> None:
    solved: list[str] = []
    app = build_app(settings, solved)

    def refuse() -> Principal:
        solved.append("override")
        raise HTTPException(403, "refused by the override")

    app.dependency_overrides[writer] = refuse
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/route")
    assert response.status_code == 403 and solved == ["override"]
