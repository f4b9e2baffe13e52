"""A service account's self-signed JWT is taken as an access token, as Google's APIs take it.

Google's client libraries send one for a key file's credentials (google-auth's ``always_use_jwt_access``): ``iss``
= ``sub`` = the account, ``aud`` ``https://SERVICE.googleapis.com/``, signed with one of its keys.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from google.auth import jwt as google_jwt
from google.oauth2 import service_account

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from tests.unit.emulator.conftest import assertion

pytestmark = pytest.mark.anyio

_SECRETS = "/secretmanager/v1/projects/cloudgate-local/secrets"
_AUDIENCE = "https://secretmanager.googleapis.com/"


def _google_auth_jwt(key_file: dict[str, Any]) -> str:
    """The token google-auth itself makes for a key file's credentials in a client library."""
    credentials = service_account.Credentials.from_service_account_info(key_file)
    jwt_credentials = google_jwt.Credentials.from_signing_credentials(credentials, audience=_AUDIENCE)
    headers: dict[str, str] = {}
    jwt_credentials.before_request(None, "GET", _AUDIENCE, headers)  # what the library puts on the wire
    return headers["authorization"].removeprefix("Bearer ")


async def _list(google: httpx.AsyncClient, token: str) -> int:
    return (await google.get(_SECRETS, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_google_auths_self_signed_jwt_speaks_for_the_account(
    ctx: EmulatorContext, google: httpx.AsyncClient, key_file: dict[str, Any]
) -> None:
    """The account is known (403 without a role, not 401), and once granted the call passes."""
    assert await _list(google, _google_auth_jwt(key_file)) == 403
    iam.grant_project_role(ctx.store, "roles/secretmanager.viewer", f"serviceAccount:{key_file['client_email']}")
    assert await _list(google, _google_auth_jwt(key_file)) == 200


@pytest.mark.parametrize(
    "overrides",
    [
        lambda email, now: {"aud": "https://elsewhere.example/"},
        lambda email, now: {"sub": "someone-else@cloudgate-local.iam.gserviceaccount.com"},
        lambda email, now: {"iat": now - 7200, "exp": now - 3600},
        lambda email, now: {"iat": now, "exp": now + 7200},
    ],
    ids=["not-a-google-api", "sub-is-not-iss", "expired", "too-long"],
)
async def test_other_self_signed_jwts_are_401(
    google: httpx.AsyncClient, key_file: dict[str, Any], overrides: Any
) -> None:
    claims = {"aud": _AUDIENCE, "sub": key_file["client_email"], "target_audience": None}
    claims.update(overrides(key_file["client_email"], int(time.time())))
    assert await _list(google, assertion(key_file, **claims)) == 401


async def test_a_self_signed_jwt_of_a_deleted_key_is_401(
    ctx: EmulatorContext, google: httpx.AsyncClient, key_file: dict[str, Any]
) -> None:
    token = _google_auth_jwt(key_file)
    iam.delete_key(ctx.store, key_file["client_email"], key_file["private_key_id"])
    assert await _list(google, token) == 401
