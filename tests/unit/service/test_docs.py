"""The docs routes: every path behind Basic, 404 when disabled, the pages' CSP and headers, the schema."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import fastapi_offline
import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import ConfigError
from cloudgate.service.docs import install_docs
from cloudgate.service.settings import ServiceSettings

PASSWORD = "a long docs password"
_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
_STATIC = Path(fastapi_offline.__file__).parent / "static"
FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"]
PATHS = [
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/docs/assets/swagger-init.js",
    *(f"/docs/assets/{name}" for name in FILES),
]
HTML_PATHS = ["/docs", "/redoc", "/docs/oauth2-redirect"]
CHALLENGE = 'Basic realm="API docs", charset="UTF-8"'


@pytest.fixture(scope="module")
def users() -> str:
    return f"alice:{_CHEAP.hash(PASSWORD)}"


def make_app(users: str = "", app: FastAPI | None = None, **settings: Any) -> FastAPI:
    if app is None:
        app = FastAPI(title="Demo", docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/items/{item_id}")
        async def read_item(item_id: int) -> dict[str, int]:
            return {"item_id": item_id}

    install_docs(app, ServiceSettings(docs_users=users, **settings))
    return app


def client_for(app: FastAPI, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://docs.test")


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_every_docs_path_asks_for_basic_credentials(users: str, path: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json() == {
        "error": "unauthenticated",
        "reason": "password_missing",
        "detail": "the docs need HTTP Basic credentials",
    }


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_every_docs_path_refuses_a_wrong_password(users: str, path: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(path, auth=("alice", "not the password"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json() == {
        "error": "unauthenticated",
        "reason": "password_invalid",
        "detail": "wrong user name or password",
    }
    assert PASSWORD not in response.text


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_every_docs_path_refuses_an_unknown_user(users: str, path: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(path, auth=("mallory", PASSWORD))
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_every_docs_path_answers_the_right_credentials(users: str, path: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(path, auth=("alice", PASSWORD))
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content


@pytest.mark.anyio
@pytest.mark.parametrize("name", FILES)
async def test_assets_are_the_files_shipped_with_fastapi_offline(users: str, name: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(f"/docs/assets/{name}", auth=("alice", PASSWORD))
    assert response.content == (_STATIC / name).read_bytes()
    expected_type = {"js": "application/javascript", "css": "text/css", "png": "image/png"}[name.rsplit(".", 1)[1]]
    assert response.headers["content-type"].startswith(expected_type)


@pytest.mark.anyio
@pytest.mark.parametrize("path", [*PATHS, "/docs/assets/unknown.js"])
async def test_without_docs_users_every_docs_path_is_404(path: str) -> None:
    async with client_for(make_app("")) as client:
        response = await client.get(path, auth=("alice", PASSWORD))
    assert response.status_code == 404


@pytest.mark.anyio
async def test_fastapi_default_docs_routes_are_replaced_not_left_open(users: str) -> None:
    enabled = make_app(users, app=FastAPI())
    disabled = make_app("", app=FastAPI())
    async with client_for(enabled) as on, client_for(disabled) as off:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await on.get(path)).status_code == 401, path
            assert (await off.get(path)).status_code == 404, path


@pytest.mark.anyio
async def test_a_catch_all_route_of_the_app_does_not_shadow_the_docs(users: str) -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{anything:path}")
    async def catch_all(anything: str) -> dict[str, str]:
        return {"caught": anything}

    async with client_for(make_app(users, app=app)) as client:
        assert (await client.get("/docs")).status_code == 401
        assert (await client.get("/elsewhere")).json() == {"caught": "elsewhere"}


@pytest.mark.anyio
@pytest.mark.parametrize("path", HTML_PATHS)
async def test_html_pages_carry_a_strict_csp_and_security_headers(users: str, path: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get(path, auth=("alice", PASSWORD))
    assert response.headers["content-type"].startswith("text/html")
    csp = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "http" not in response.headers["content-security-policy"]  # no CDN anywhere
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_openapi_schema_is_not_stored_by_caches(users: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get("/openapi.json", auth=("alice", PASSWORD))
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.anyio
async def test_swagger_page_runs_no_inline_script_and_loads_only_local_assets(users: str) -> None:
    async with client_for(make_app(users)) as client:
        page = (await client.get("/docs", auth=("alice", PASSWORD))).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    executable = [(attrs, body) for attrs, body in scripts if 'type="application/json"' not in attrs]
    assert [attrs.strip() for attrs, _ in executable] == [
        'src="/docs/assets/swagger-ui-bundle.js"',
        'src="/docs/assets/swagger-init.js"',
    ]
    assert all(not body.strip() for _, body in executable)
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page))


@pytest.mark.anyio
async def test_swagger_config_points_at_the_schema_and_disables_the_online_validator(users: str) -> None:
    async with client_for(make_app(users)) as client:
        page = (await client.get("/docs", auth=("alice", PASSWORD))).text
    raw = re.search(r'<script id="swagger-config" type="application/json">(.*?)</script>', page, flags=re.S)
    assert raw is not None
    config = json.loads(raw.group(1))
    assert config["url"] == "/openapi.json"
    assert config["oauth2RedirectPath"] == "/docs/oauth2-redirect"
    assert config["validatorUrl"] is None
    assert config["dom_id"] == "#swagger-ui"


@pytest.mark.anyio
async def test_oauth2_redirect_page_script_is_allowed_by_its_exact_hash(users: str) -> None:
    async with client_for(make_app(users)) as client:
        response = await client.get("/docs/oauth2-redirect", auth=("alice", PASSWORD))
    script = response.text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in response.headers["content-security-policy"]


@pytest.mark.anyio
async def test_the_schema_lists_the_app_routes_but_no_docs_route(users: str) -> None:
    async with client_for(make_app(users)) as client:
        schema = (await client.get("/openapi.json", auth=("alice", PASSWORD))).json()
    assert set(schema["paths"]) == {"/items/{item_id}"}
    assert schema["info"]["title"] == "Demo"


@pytest.mark.anyio
async def test_behind_a_root_path_urls_and_schema_servers_carry_the_prefix(users: str) -> None:
    async with client_for(make_app(users), root_path="/svc") as client:
        page = (await client.get("/svc/docs", auth=("alice", PASSWORD))).text
        redoc = (await client.get("/svc/redoc", auth=("alice", PASSWORD))).text
        schema = (await client.get("/svc/openapi.json", auth=("alice", PASSWORD))).json()
    assert '"url":"/svc/openapi.json"' in page
    assert 'src="/svc/docs/assets/swagger-ui-bundle.js"' in page
    assert 'spec-url="/svc/openapi.json"' in redoc
    assert schema["servers"][0] == {"url": "/svc"}


@pytest.mark.anyio
async def test_the_realm_setting_is_named_in_the_challenge_and_quoted_safely(users: str) -> None:
    async with client_for(make_app(users, docs_realm='Team "A" docs')) as client:
        response = await client.get("/docs")
    assert response.headers["www-authenticate"] == 'Basic realm="Team \\"A\\" docs", charset="UTF-8"'


def test_a_malformed_users_setting_stops_install_docs_with_a_config_error() -> None:
    with pytest.raises(ConfigError, match="entry 1"):
        make_app("alice:not-a-hash")
