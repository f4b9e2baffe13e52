"""The token endpoint's answers and Google's error codes, through the ASGI app."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.google import JWT_BEARER_GRANT
from tests.unit.emulator.conftest import assertion

pytestmark = pytest.mark.anyio


async def _grant(google: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await google.post("/token", data=form)


async def test_id_token_for_target_audience(google: httpx.AsyncClient, key_file: dict[str, Any]) -> None:
    """A valid assertion with target_audience gets 200 {"id_token"} for that audience."""
    response = await _grant(google, grant_type=JWT_BEARER_GRANT, assertion=assertion(key_file))
    assert response.status_code == 200
    claims = jwt.decode(response.json()["id_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://svc.example"


async def test_emulator_token_url_is_an_accepted_assertion_audience(
    ctx: EmulatorContext, google: httpx.AsyncClient, key_file: dict[str, Any]
) -> None:
    """Clients that put the key file's token_uri in aud (not Google's) are accepted too."""
    response = await _grant(google, grant_type=JWT_BEARER_GRANT, assertion=assertion(key_file, aud=ctx.token_url))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        lambda now: {"aud": "https://elsewhere.example/token"},
        lambda now: {"exp": now - 600, "iat": now - 4200},
        lambda now: {"iat": now, "exp": now + 7200},
        lambda now: {"iat": None},
        lambda now: {"iss": "ghost-sa@cloudgate-local.iam.gserviceaccount.com"},
    ],
    ids=["wrong-aud", "expired", "too-long", "no-iat", "unknown-account"],
)
async def test_bad_assertions_get_invalid_grant(
    google: httpx.AsyncClient, key_file: dict[str, Any], overrides: Callable[[int], dict[str, Any]]
) -> None:
    """Wrong audience, expired, longer than an hour, missing iat or unknown account: 400 invalid_grant.

    Times are built when the test runs, not at collection (which can be minutes earlier on a loaded machine)."""
    claims = overrides(int(time.time()))
    response = await _grant(google, grant_type=JWT_BEARER_GRANT, assertion=assertion(key_file, **claims))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_deleted_key_gets_invalid_grant(
    ctx: EmulatorContext, google: httpx.AsyncClient, key_file: dict[str, Any]
) -> None:
    """Once a key is deleted, assertions signed with it are refused."""
    iam.delete_key(ctx.store, key_file["client_email"], key_file["private_key_id"])
    response = await _grant(google, grant_type=JWT_BEARER_GRANT, assertion=assertion(key_file))
    assert response.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": JWT_BEARER_GRANT}, "invalid_request"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": "not.a.jwt"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "client_id": "x"}, "invalid_request"),
    ],
)
async def test_malformed_requests_get_400(google: httpx.AsyncClient, form: dict[str, str], error: str) -> None:
    """Missing or unknown parameters are 400 with Google's error code, never a 500."""
    response = await _grant(google, **form)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_refresh_token_grant(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """A user's refresh token gets an access token; a wrong secret invalid_grant; an unknown client 401."""
    user = iam.create_user(ctx.store, "dev@example.com", token_uri=ctx.token_url)
    form = {k: user[k] for k in ("client_id", "client_secret", "refresh_token")}
    ok = await _grant(google, grant_type="refresh_token", **form)
    assert ok.status_code == 200 and ok.json()["access_token"].startswith("ya29.")
    assert ctx.issuer.access_grant(ok.json()["access_token"]).member == "user:dev@example.com"  # type: ignore[union-attr]
    wrong = await _grant(google, grant_type="refresh_token", **{**form, "refresh_token": "1//nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    unknown = await _grant(google, grant_type="refresh_token", **{**form, "client_id": "other"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    non_ascii = await _grant(google, grant_type="refresh_token", **{**form, "client_id": "clïent"})
    assert non_ascii.status_code == 401 and non_ascii.json()["error"] == "invalid_client"


async def test_token_errors_are_counted(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """Each refused grant increments token_errors under its error code."""
    await _grant(google, grant_type="password")
    assert ctx.counters.get("token_errors", "unsupported_grant_type") == 1
