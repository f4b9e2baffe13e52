"""Who may call what: each route needs an API key holding its scope; ``/v1/whoami`` needs any valid key."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.anyio

CSV = {"content-type": "text/csv"}
# (method, path, the role allowed besides "all")
ROUTES = [
    ("GET", "/v1/datasets", "reader"),
    ("GET", "/v1/datasets/sample", "reader"),
    ("GET", "/v1/datasets/sample/rows", "reader"),
    ("GET", "/v1/datasets/sample/export", "reader"),
    ("POST", "/v1/datasets/scoped", "writer"),
    ("DELETE", "/v1/datasets/scoped", "admin"),
]


async def _call(app: FastAPI, method: str, path: str, key: str | None, setup_key: str | None = None) -> httpx.Response:
    """One request with ``key``; for a DELETE, ``setup_key`` first uploads something to delete."""
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        if method == "DELETE" and setup_key:
            await client.post("/v1/datasets/scoped", content="n\n1\n", headers={**CSV, "X-API-Key": setup_key})
        content = "n\n1\n" if method == "POST" else None
        return await client.request(method, path, headers={**headers, **CSV}, content=content)


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
async def test_a_route_accepts_a_key_with_its_scope(
    app: FastAPI, keys: dict[str, str], method: str, path: str, allowed: str
) -> None:
    response = await _call(app, method, path, keys[allowed], keys["all"])
    assert response.status_code in {200, 201, 204}, response.text


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
async def test_a_route_refuses_keys_without_its_scope_with_403(
    app: FastAPI, keys: dict[str, str], method: str, path: str, allowed: str
) -> None:
    for role in {"reader", "writer", "admin", "none"} - {allowed}:
        response = await _call(app, method, path, keys[role], keys["all"])
        assert response.status_code == 403, (role, response.text)
        assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
async def test_a_route_refuses_a_missing_or_wrong_key_with_401(
    app: FastAPI, method: str, path: str, allowed: str
) -> None:
    assert (await _call(app, method, path, None)).status_code == 401
    assert (await _call(app, method, path, "cg_not-a-real-key")).status_code == 401


async def test_whoami_describes_the_callers_key_whatever_its_scopes(app: FastAPI, keys: dict[str, str]) -> None:
    response = await _call(app, "GET", "/v1/whoami", keys["none"])
    assert response.status_code == 200
    body = response.json()
    assert body["key_name"] == "none"
    assert body["scopes"] == []
    assert body["email"] is None
    assert body["key_id"]
    response = await _call(app, "GET", "/v1/whoami", keys["all"])
    assert response.json()["scopes"] == ["datasets:admin", "datasets:read", "datasets:write"]
    assert (await _call(app, "GET", "/v1/whoami", None)).status_code == 401
