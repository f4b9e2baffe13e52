"""``require_iap()`` on a protected app: the person IAP signed in, from the verified assertion only.

The app runs through ``httpx.ASGITransport``; IAP's keys are served over real HTTP (``iap_helpers``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI

from cloudgate.errors import ConfigError
from cloudgate.google import IAP_ASSERTION_HEADER, IAP_USER_EMAIL_HEADER, IAP_USER_ID_HEADER
from cloudgate.service import IapCaller, Principal, ServiceSettings, protect, require
from cloudgate.service.keys import open_keystore

from .iap_helpers import AUDIENCE, EMAIL, iap_keys, mint, new_signer


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return new_signer()


@pytest.fixture(scope="module")
def jwks_url(signer: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    with iap_keys((signer, "iap1")) as url:
        yield url


def settings_for(tmp_path: Path, jwks_url: str, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "keystore": f"sqlite:///{tmp_path / 'keys.sqlite3'}",
        "identity": "cloud-run",
        "iap_audience": AUDIENCE,
        "iap_jwks_url": jwks_url,
        **overrides,
    }
    return ServiceSettings(**values)


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/me")
    async def me(caller: IapCaller) -> dict[str, str | None]:
        return {"email": caller.email, "source": caller.email_source, "name": caller.name}

    @app.get("/v1/report")
    async def report(caller: Principal = Depends(require("reports:read", iap=True))) -> dict[str, str | None]:
        return {"email": caller.email, "key": caller.key_name}

    return protect(app, settings)


@pytest.fixture
async def served(tmp_path: Path, jwks_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceSettings]]:
    settings = settings_for(tmp_path, jwks_url)
    transport = httpx.ASGITransport(app=build_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client, settings


async def client_for(settings: ServiceSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(settings)), base_url="http://svc")


@pytest.mark.anyio
async def test_a_verified_assertion_names_the_person(
    served: tuple[httpx.AsyncClient, ServiceSettings], signer: ec.EllipticCurvePrivateKey
) -> None:
    client, _ = served
    response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer)})
    assert response.status_code == 200
    assert response.json() == {"email": EMAIL, "source": "iap", "name": EMAIL}


@pytest.mark.anyio
async def test_the_unsigned_user_headers_alone_are_401(served: tuple[httpx.AsyncClient, ServiceSettings]) -> None:
    client, _ = served
    forged = {IAP_USER_EMAIL_HEADER: f"accounts.google.com:{EMAIL}", IAP_USER_ID_HEADER: "accounts.google.com:1"}
    response = await client.get("/v1/me", headers=forged)
    assert response.status_code == 401
    assert response.json()["reason"] == "iap_assertion_missing"


@pytest.mark.anyio
async def test_an_assertion_signed_by_a_key_not_in_iaps_set_is_401(
    served: tuple[httpx.AsyncClient, ServiceSettings],
) -> None:
    client, _ = served
    response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(new_signer())})
    assert response.status_code == 401
    assert response.json()["reason"] == "iap_assertion_invalid"


@pytest.mark.anyio
async def test_an_assertion_for_another_service_is_401(
    served: tuple[httpx.AsyncClient, ServiceSettings], signer: ec.EllipticCurvePrivateKey
) -> None:
    client, _ = served
    other = mint(signer, aud="/projects/123456789012/locations/us-central1/services/other")
    response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: other})
    assert response.status_code == 401
    assert "wrong audience" in response.json()["detail"]


@pytest.mark.anyio
async def test_an_id_token_does_not_stand_for_an_iap_sign_in(
    served: tuple[httpx.AsyncClient, ServiceSettings],
) -> None:
    from .helpers import stripped_token

    client, _ = served
    response = await client.get("/v1/me", headers={"X-Serverless-Authorization": f"Bearer {stripped_token()}"})
    assert response.status_code == 401
    assert response.json()["reason"] == "iap_assertion_missing"


@pytest.mark.anyio
async def test_a_person_not_in_the_allowed_principals_is_403(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey
) -> None:
    settings = settings_for(tmp_path, jwks_url, allowed_principals="user:bob@example.com")
    async with await client_for(settings) as client:
        response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer)})
    assert response.status_code == 403
    assert response.json()["reason"] == "principal_not_allowed"


@pytest.mark.anyio
async def test_a_listed_user_entry_lets_the_person_in(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey
) -> None:
    settings = settings_for(tmp_path, jwks_url, allowed_principals=f"user:{EMAIL.upper()}")
    async with await client_for(settings) as client:
        response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer)})
    assert response.status_code == 200


@pytest.mark.anyio
async def test_a_domain_entry_matches_the_signed_hosted_domain(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey
) -> None:
    settings = settings_for(tmp_path, jwks_url, allowed_principals="domain:example.com")
    async with await client_for(settings) as client:
        inside = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer, hd="example.com")})
        # The email's own domain is not the signed hd: an account outside the Workspace domain does not pass.
        outside = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer)})
    assert (inside.status_code, outside.status_code) == (200, 403)


def test_a_group_entry_stops_the_service_at_start(tmp_path: Path, jwks_url: str) -> None:
    settings = settings_for(tmp_path, jwks_url, allowed_principals="group:team@example.com")
    with pytest.raises(ConfigError, match="names a group"):
        build_app(settings)


@pytest.mark.anyio
async def test_without_an_iap_audience_the_route_is_403_iap_off(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey
) -> None:
    async with await client_for(settings_for(tmp_path, jwks_url, iap_audience="")) as client:
        response = await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: mint(signer)})
    assert response.status_code == 403
    assert response.json()["reason"] == "iap_off"


@pytest.mark.anyio
async def test_a_key_and_iap_route_needs_both(
    served: tuple[httpx.AsyncClient, ServiceSettings], signer: ec.EllipticCurvePrivateKey
) -> None:
    client, settings = served
    _, secret = open_keystore(settings.keystore).create("reports", ["reports:read"])
    without_key = await client.get("/v1/report", headers={IAP_ASSERTION_HEADER: mint(signer)})
    both = await client.get("/v1/report", headers={IAP_ASSERTION_HEADER: mint(signer), "X-API-Key": secret})
    assert without_key.json()["reason"] == "api_key_missing"
    assert both.json() == {"email": EMAIL, "key": "reports"}


def test_require_refuses_google_and_iap_together() -> None:
    with pytest.raises(ConfigError, match="two callers"):
        require(key=False, google=True, iap=True)


def test_the_schema_documents_the_iap_header(tmp_path: Path, jwks_url: str) -> None:
    schema = build_app(settings_for(tmp_path, jwks_url)).openapi()
    assert schema["components"]["securitySchemes"]["IapAssertion"]["name"] == IAP_ASSERTION_HEADER
    assert schema["paths"]["/v1/me"]["get"]["security"] == [{"IapAssertion": []}]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_a_remembered_sign_in_lasts_no_longer_than_its_assertion(
    tmp_path: Path, jwks_url: str, signer: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recent-credentials table keeps an IAP principal until the assertion's exp plus skew, not beyond."""
    import jwt

    from cloudgate.service import authenticator as authenticator_module
    from cloudgate.service.iap import IapVerifier
    from cloudgate.service.keys import cache as cache_module

    monotonic = Clock(1000.0)
    monkeypatch.setattr(cache_module, "_monotonic", monotonic)
    assertion = mint(signer)
    exp = jwt.decode(assertion, options={"verify_signature": False})["exp"]
    wall = Clock(exp - 100)  # the authenticator's wall clock: 100 s before the assertion's exp

    class _Time:
        time = wall

    monkeypatch.setattr(authenticator_module, "time", _Time)
    checks: list[int] = []
    original = IapVerifier.identify_values

    async def counted(self: IapVerifier, values: list[str]) -> Any:
        checks.append(1)
        return await original(self, values)

    monkeypatch.setattr(IapVerifier, "identify_values", counted)
    settings = settings_for(tmp_path, jwks_url, clock_skew_seconds=30, key_cache_seconds=2)
    async with await client_for(settings) as client:
        for _ in range(2):
            assert (await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: assertion})).status_code == 200
        assert len(checks) == 1  # the repeat came from the table
        monotonic.now += 100 + 30 - 1
        assert (await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: assertion})).status_code == 200
        assert len(checks) == 1  # a second before exp + skew: still remembered
        monotonic.now += 1
        assert (await client.get("/v1/me", headers={IAP_ASSERTION_HEADER: assertion})).status_code == 200
    assert len(checks) == 2
