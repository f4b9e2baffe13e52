"""IAM Credentials (generateIdToken, generateAccessToken): authorisation and Google's error shapes."""

from __future__ import annotations

import datetime

import httpx
import jwt
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

_TARGET = "target-sa@cloudgate-local.iam.gserviceaccount.com"
_URL = f"/v1/projects/-/serviceAccounts/{_TARGET}"


@pytest.fixture
def caller_token(ctx: EmulatorContext) -> str:
    """An access token of a user allowed to impersonate target-sa."""
    iam.create_account(ctx.store, "target-sa")
    iam.create_user(ctx.store, "dev@example.com", token_uri=ctx.token_url)
    iam.grant_token_creator(ctx.store, "target-sa", "user:dev@example.com")
    token, _ = ctx.issuer.mint_access_token("user:dev@example.com")
    return token


async def test_generate_id_token_without_email(google: httpx.AsyncClient, caller_token: str) -> None:
    """includeEmail false (google-auth's default) gives a token without email, azp = sub."""
    response = await google.post(
        f"{_URL}:generateIdToken",
        json={"audience": "https://a.example"},
        headers={"Authorization": f"Bearer {caller_token}"},
    )
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert "email" not in claims and claims["azp"] == claims["sub"]


async def test_include_email_accepts_google_auth_string(google: httpx.AsyncClient, caller_token: str) -> None:
    """google-auth sends includeEmail as the string "true"; the token then has the email."""
    response = await google.post(
        f"{_URL}:generateIdToken",
        json={"audience": "https://a.example", "includeEmail": "true"},
        headers={"Authorization": f"Bearer {caller_token}"},
    )
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["email"] == _TARGET
    assert claims["azp"] == claims["sub"]  # the numeric id even with the email, as Google's generateIdToken


async def test_generate_access_token(google: httpx.AsyncClient, caller_token: str) -> None:
    """generateAccessToken answers accessToken and an RFC 3339 expireTime about an hour ahead."""
    response = await google.post(
        f"{_URL}:generateAccessToken",
        json={"scope": ["https://www.googleapis.com/auth/cloud-platform"]},
        headers={"Authorization": f"Bearer {caller_token}"},
    )
    body = response.json()
    expire = datetime.datetime.strptime(body["expireTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert body["accessToken"].startswith("ya29.")
    assert 3500 < (expire - datetime.datetime.now(datetime.UTC)).total_seconds() <= 3600


@pytest.mark.parametrize(
    ("path", "body", "auth", "status"),
    [
        (f"{_URL}:generateIdToken", {"audience": "x"}, None, 401),
        (f"{_URL}:generateIdToken", {"audience": "x"}, "ya29.forged", 401),
        (f"{_URL}:signBlob", {}, "caller", 404),
        (f"{_URL}:generateIdToken", {}, "caller", 400),
        (f"{_URL}:generateAccessToken", {"scope": []}, "caller", 400),
        (
            "/v1/projects/-/serviceAccounts/other-sa@x.iam.gserviceaccount.com:generateIdToken",
            {"audience": "x"},
            "caller",
            403,
        ),
    ],
    ids=["no-token", "unknown-token", "unknown-method", "no-audience", "no-scope", "not-token-creator"],
)
async def test_refusals_use_google_error_shape(
    google: httpx.AsyncClient, caller_token: str, path: str, body: dict[str, object], auth: str | None, status: int
) -> None:
    """Refusals answer {"error": {"code", "message", "status"}} with the right HTTP status."""
    headers = {} if auth is None else {"Authorization": f"Bearer {caller_token if auth == 'caller' else auth}"}
    response = await google.post(path, json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


async def test_invalid_json_is_400(google: httpx.AsyncClient, caller_token: str) -> None:
    """A body that is not JSON gets 400 INVALID_ARGUMENT."""
    response = await google.post(
        f"{_URL}:generateIdToken", content=b"{nope", headers={"Authorization": f"Bearer {caller_token}"}
    )
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
