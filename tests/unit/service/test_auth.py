"""The auth dependencies on a protected app, through httpx.ASGITransport (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from cloudgate.service import GoogleCaller, KeyCaller, Principal, ServiceSettings, protect, require_key
from cloudgate.service.keys import open_keystore

from .helpers import stripped_token

AUD = "https://svc.example.run.app"
Writer = Annotated[Principal, Depends(require_key("things:write"))]


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI(title="t")

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, object]:
        return {"email": caller.email, "key_name": caller.key_name, "scopes": sorted(caller.scopes)}

    @app.post("/v1/things")
    async def write(caller: Writer) -> dict[str, str]:
        return {"by": caller.name}

    @app.get("/v1/internal")
    async def internal(caller: GoogleCaller) -> dict[str, str | None]:
        return {"email": caller.email}

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"open": True}

    return protect(app, settings)


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(
        keystore=f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        identity="cloud-run",
        audiences=[AUD],
        allowed_principals=["caller@proj.iam.gserviceaccount.com"],
    )


@pytest.fixture
async def client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


@pytest.fixture
def reader_key(settings: ServiceSettings) -> str:
    return open_keystore(settings.keystore).create("reader", ["things:read"])[1]


@pytest.fixture
def writer_key(settings: ServiceSettings) -> str:
    return open_keystore(settings.keystore).create("writer", ["things:write"])[1]


@pytest.mark.anyio
async def test_missing_key_is_401_naming_the_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    assert response.json() == {
        "error": "unauthenticated",
        "reason": "api_key_missing",
        "detail": "an API key is required in the X-API-Key header",
    }


@pytest.mark.anyio
async def test_valid_key_reaches_the_route_with_its_principal(client: httpx.AsyncClient, reader_key: str) -> None:
    response = await client.get("/v1/whoami", headers={"X-API-Key": reader_key})
    assert response.status_code == 200
    assert response.json() == {"email": None, "key_name": "reader", "scopes": ["things:read"]}


@pytest.mark.anyio
async def test_key_without_the_route_scope_is_403(client: httpx.AsyncClient, reader_key: str) -> None:
    response = await client.post("/v1/things", headers={"X-API-Key": reader_key})
    assert response.status_code == 403
    assert "things:write" in response.json()["detail"]
    assert response.json()["reason"] == "scope_missing" and response.json()["scope"] == "things:write"


@pytest.mark.anyio
async def test_key_with_the_route_scope_is_accepted(client: httpx.AsyncClient, writer_key: str) -> None:
    response = await client.post("/v1/things", headers={"X-API-Key": writer_key})
    assert response.json() == {"by": "key:writer"}


@pytest.mark.anyio
async def test_duplicate_key_headers_are_refused(client: httpx.AsyncClient, reader_key: str) -> None:
    response = await client.get("/v1/whoami", headers=[("X-API-Key", reader_key), ("X-API-Key", reader_key)])
    assert response.status_code == 401
    assert "exactly one" in response.json()["detail"] and response.json()["reason"] == "api_key_invalid"


@pytest.mark.anyio
async def test_key_in_the_query_string_is_never_accepted(client: httpx.AsyncClient, reader_key: str) -> None:
    response = await client.get("/v1/whoami", params={"api_key": reader_key, "X-API-Key": reader_key})
    assert response.status_code == 401


@pytest.mark.anyio
async def test_key_in_authorization_header_is_not_an_api_key(client: httpx.AsyncClient, reader_key: str) -> None:
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {reader_key}"})
    assert response.status_code == 401


@pytest.mark.anyio
async def test_identity_from_a_forwarded_token_is_added_to_a_key_principal(
    client: httpx.AsyncClient, reader_key: str
) -> None:
    headers = {"X-API-Key": reader_key, "X-Serverless-Authorization": f"Bearer {stripped_token(aud=AUD)}"}
    response = await client.get("/v1/whoami", headers=headers)
    assert response.json()["email"] == "caller@proj.iam.gserviceaccount.com"


@pytest.mark.anyio
async def test_serverless_header_wins_over_authorization(client: httpx.AsyncClient) -> None:
    good = stripped_token(aud=AUD)
    headers = {"X-Serverless-Authorization": f"Bearer {good}", "Authorization": "Basic ZG9jczpwdw=="}
    response = await client.get("/v1/internal", headers=headers)
    assert response.status_code == 200
    bad_first = {
        "X-Serverless-Authorization": f"Bearer {stripped_token(aud='https://other')}",
        "Authorization": f"Bearer {good}",
    }
    assert (await client.get("/v1/internal", headers=bad_first)).status_code == 401


@pytest.mark.anyio
async def test_google_route_without_token_is_401_bearer(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/internal")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["reason"] == "id_token_missing"


@pytest.mark.anyio
async def test_google_route_refuses_a_principal_not_allowed(client: httpx.AsyncClient) -> None:
    token = stripped_token(aud=AUD, email="intruder@other.iam.gserviceaccount.com")
    response = await client.get("/v1/internal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "not an allowed principal" in response.json()["detail"]
    assert response.json()["reason"] == "principal_not_allowed"


@pytest.mark.anyio
async def test_google_route_accepts_an_allowed_principal_case_insensitively(client: httpx.AsyncClient) -> None:
    token = stripped_token(aud=AUD, email="Caller@proj.iam.gserviceaccount.com")
    response = await client.get("/v1/internal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.anyio
async def test_expired_forwarded_token_is_401(client: httpx.AsyncClient) -> None:
    token = stripped_token(aud=AUD, exp=1_000_000_000, iat=999_996_400)
    response = await client.get("/v1/internal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["reason"] == "id_token_invalid"
    assert token not in response.text


@pytest.mark.anyio
async def test_routes_without_dependencies_stay_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/open")).json() == {"open": True}
    assert (await client.get("/health")).json() == {"status": "ok"}


@pytest.mark.anyio
async def test_identity_off_makes_google_routes_forbidden(tmp_path: Path) -> None:
    app = build_app(ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/v1/internal", headers={"Authorization": f"Bearer {stripped_token()}"})
    assert response.status_code == 403
    assert "CLOUDGATE_IDENTITY=off" in response.json()["detail"]
    assert response.json()["reason"] == "identity_off"


@pytest.mark.anyio
@pytest.mark.parametrize("state", ["expired", "revoked"])
async def test_an_inactive_key_says_why_in_its_reason(
    client: httpx.AsyncClient, settings: ServiceSettings, state: str
) -> None:
    store = open_keystore(settings.keystore)
    past = datetime(2020, 1, 1, tzinfo=UTC)
    record, secret = store.create("old", ["things:read"], expires_at=past if state == "expired" else None)
    if state == "revoked":
        store.revoke(record.key_id, past)
    response = await client.get("/v1/whoami", headers={"X-API-Key": secret})
    assert response.status_code == 401 and response.json()["reason"] == f"api_key_{state}"


@pytest.mark.anyio
async def test_openapi_declares_the_key_scheme_and_scopes(tmp_path: Path) -> None:
    app = build_app(ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off"))
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A cloudgate API key (`cgk_...`).",
    }
    operation = schema["paths"]["/v1/things"]["post"]
    assert operation["security"] == [{"ApiKeyAuth": []}]
    assert "things:write" in operation["description"]
    assert "security" not in schema["paths"]["/open"]["get"]


@pytest.mark.anyio
async def test_openapi_documents_routes_of_included_routers(tmp_path: Path) -> None:
    from fastapi import APIRouter

    router = APIRouter(prefix="/v2/items")

    @router.get("")
    async def items(caller: Annotated[Principal, Depends(require_key("items:read"))]) -> list[str]:
        return []

    app = FastAPI()
    app.include_router(router)
    schema = protect(app, ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off")).openapi()
    operation = schema["paths"]["/v2/items"]["get"]
    assert operation["security"] == [{"ApiKeyAuth": []}]
    assert "items:read" in operation["description"]


@pytest.mark.anyio
async def test_openapi_documents_the_refusals_of_protected_routes(tmp_path: Path) -> None:
    schema = build_app(ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off")).openapi()
    responses = schema["paths"]["/v1/things"]["post"]["responses"]
    assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CloudgateError"}
    assert "things:write" in responses["403"]["description"]
    assert schema["components"]["schemas"]["CloudgateError"]["required"] == ["error", "detail"]
    assert "401" not in schema["paths"]["/open"]["get"]["responses"]


@pytest.mark.anyio
async def test_openapi_describes_422_bodies_as_they_are_sent(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/items")
    async def items(limit: int) -> list[int]:
        return []

    schema = protect(app, ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off")).openapi()
    validation = schema["components"]["schemas"]["HTTPValidationError"]
    # ``errors`` comes with FastAPI's own validation refusals; an app's own 422 (an AppError) has none.
    assert validation["required"] == ["error", "detail"]
    assert validation["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ValidationError"}
    responses = schema["paths"]["/items"]["get"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }


@pytest.mark.anyio
async def test_a_non_ascii_email_is_compared_not_crashed_on(client: httpx.AsyncClient) -> None:
    token = stripped_token(aud=AUD, email="é@proj.iam.gserviceaccount.com")
    response = await client.get("/v1/internal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


@pytest.mark.anyio
async def test_the_service_never_creates_a_missing_key_store(tmp_path: Path) -> None:
    """A mistyped CLOUDGATE_KEYSTORE must not silently become an empty store: 503, and no file appears."""
    missing = tmp_path / "typo" / "keys.sqlite3"
    app = build_app(ServiceSettings(keystore=f"sqlite:///{missing}", identity="off"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/v1/whoami", headers={"X-API-Key": "cgk_0123456789abcdef_" + "s" * 43})
    assert response.status_code == 503
    assert not missing.exists() and not missing.parent.exists()


def test_an_sqlite_store_on_cloud_run_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    monkeypatch.setenv("K_SERVICE", "my-service")
    store = f"sqlite:///{tmp_path / 'k.db'}"
    open_keystore(store).close()
    with caplog.at_level(logging.WARNING, logger="cloudgate.service.auth"):
        build_app(ServiceSettings(keystore=store, identity="off"))
    assert "Secret Manager volume" in caplog.text


def test_an_sqlite_store_read_live_by_its_one_instance_is_not_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``CLOUDGATE_KEYSTORE_SHARED=true`` (``cloudgate dev``'s one instance): the file is no per-instance copy."""
    import logging

    monkeypatch.setenv("K_SERVICE", "my-service")
    monkeypatch.setenv("CLOUDGATE_KEYSTORE_SHARED", "true")
    store = f"sqlite:///{tmp_path / 'k.db'}"
    open_keystore(store).close()
    with caplog.at_level(logging.WARNING, logger="cloudgate.service.auth"):
        build_app(ServiceSettings(keystore=store, identity="off"))
    assert "Secret Manager volume" not in caplog.text  # the warning the test above expects
