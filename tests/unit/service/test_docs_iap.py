"""The docs opened through Identity-Aware Proxy (``CLOUDGATE_DOCS_AUTH`` ``iap`` and ``both``), through a protected
app on ``httpx.ASGITransport``; IAP's keys are served over real HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import ConfigError
from cloudgate.google import IAP_ASSERTION_HEADER, IAP_USER_EMAIL_HEADER
from cloudgate.service import ServiceSettings, protect

from .iap_helpers import AUDIENCE, EMAIL, iap_keys, mint, new_signer

PASSWORD = "a long docs password"
_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return new_signer()


@pytest.fixture(scope="module")
def jwks_url(signer: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    with iap_keys((signer, "iap1")) as url:
        yield url


@pytest.fixture(scope="module")
def docs_users() -> str:
    return f"dev:{_CHEAP.hash(PASSWORD)}"


def make_app(tmp_path: Path, jwks_url: str, **overrides: Any) -> FastAPI:
    values: dict[str, Any] = {
        "keystore": f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        "iap_audience": AUDIENCE,
        "iap_jwks_url": jwks_url,
        "docs_iap_users": EMAIL,
        **overrides,
    }
    return protect(FastAPI(title="Demo"), ServiceSettings(**values))


async def get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        return await client.get(path, headers=headers)


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"dev:{PASSWORD}".encode()).decode()}


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/docs/assets/swagger-ui.css", "/redoc"])
async def test_iap_mode_opens_every_docs_path_for_a_listed_person(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey, path: str
) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="iap")
    assert (await get(app, path, {IAP_ASSERTION_HEADER: mint(signer)})).status_code == 200


@pytest.mark.anyio
async def test_iap_mode_without_an_assertion_is_401_without_a_password_prompt(tmp_path: Path, jwks_url: str) -> None:
    response = await get(make_app(tmp_path, jwks_url, docs_auth="iap"), "/docs")
    assert response.status_code == 401
    assert response.json()["reason"] == "iap_assertion_missing"
    assert "www-authenticate" not in response.headers


@pytest.mark.anyio
async def test_iap_mode_ignores_the_unsigned_user_header(tmp_path: Path, jwks_url: str) -> None:
    forged = {IAP_USER_EMAIL_HEADER: f"accounts.google.com:{EMAIL}"}
    response = await get(make_app(tmp_path, jwks_url, docs_auth="iap"), "/docs", forged)
    assert (response.status_code, response.json()["reason"]) == (401, "iap_assertion_missing")


@pytest.mark.anyio
async def test_iap_mode_refuses_an_assertion_signed_by_another_key(tmp_path: Path, jwks_url: str) -> None:
    response = await get(
        make_app(tmp_path, jwks_url, docs_auth="iap"), "/docs", {IAP_ASSERTION_HEADER: mint(new_signer())}
    )
    assert (response.status_code, response.json()["reason"]) == (401, "iap_assertion_invalid")


@pytest.mark.anyio
async def test_iap_mode_refuses_a_person_not_listed_with_403(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey
) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="iap")
    response = await get(app, "/docs", {IAP_ASSERTION_HEADER: mint(signer, email="mallory@example.com")})
    assert (response.status_code, response.json()["reason"]) == (403, "principal_not_allowed")


@pytest.mark.anyio
async def test_iap_mode_does_not_take_a_docs_password(tmp_path: Path, jwks_url: str, docs_users: str) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="iap", docs_users=docs_users)
    assert (await get(app, "/docs", basic())).status_code == 401


@pytest.mark.anyio
async def test_basic_mode_the_default_does_not_take_an_iap_sign_in(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey, docs_users: str
) -> None:
    app = make_app(tmp_path, jwks_url, docs_users=docs_users)
    response = await get(app, "/docs", {IAP_ASSERTION_HEADER: mint(signer)})
    assert (response.status_code, response.json()["reason"]) == (401, "password_missing")


@pytest.mark.anyio
async def test_both_mode_takes_a_listed_iap_sign_in(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey, docs_users: str
) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="both", docs_users=docs_users)
    assert (await get(app, "/docs", {IAP_ASSERTION_HEADER: mint(signer)})).status_code == 200


@pytest.mark.anyio
async def test_both_mode_takes_a_docs_password(tmp_path: Path, jwks_url: str, docs_users: str) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="both", docs_users=docs_users)
    assert (await get(app, "/docs", basic())).status_code == 200


@pytest.mark.anyio
async def test_both_mode_asks_an_unlisted_person_for_a_password(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey, docs_users: str
) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="both", docs_users=docs_users)
    response = await get(app, "/docs", {IAP_ASSERTION_HEADER: mint(signer, email="bob@example.com")})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.anyio
async def test_both_mode_refuses_a_forged_assertion_even_with_a_password(
    tmp_path: Path, jwks_url: str, docs_users: str
) -> None:
    app = make_app(tmp_path, jwks_url, docs_auth="both", docs_users=docs_users)
    response = await get(app, "/docs", {IAP_ASSERTION_HEADER: mint(new_signer()), **basic()})
    assert (response.status_code, response.json()["reason"]) == (401, "iap_assertion_invalid")


def test_iap_mode_without_an_audience_stops_the_service_at_start(tmp_path: Path, jwks_url: str) -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_IAP_AUDIENCE"):
        make_app(tmp_path, jwks_url, docs_auth="iap", iap_audience="")


def test_iap_mode_without_anybody_listed_stops_the_service_at_start(tmp_path: Path, jwks_url: str) -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_DOCS_IAP_USERS"):
        make_app(tmp_path, jwks_url, docs_auth="iap", docs_iap_users="")


@pytest.mark.anyio
async def test_without_docs_users_or_iap_the_docs_stay_off(tmp_path: Path, jwks_url: str) -> None:
    assert (await get(make_app(tmp_path, jwks_url), "/docs")).status_code == 404
