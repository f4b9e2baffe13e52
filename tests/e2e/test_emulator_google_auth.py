"""The real google-auth library against the running emulator: key files, certs, metadata server, impersonation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import google.auth.transport.requests
import httpx
import jwt
import pytest
from google.auth import exceptions as auth_exceptions
from google.oauth2 import credentials as user_credentials
from google.oauth2 import id_token, service_account

from cloudgate.emulator.core.keys import generate_rsa_key, private_pem
from tests.e2e.stack import EmulatorStack
from tests.support import clean_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def request_() -> google.auth.transport.requests.Request:
    return google.auth.transport.requests.Request()


def test_fetch_id_token_with_key_file_has_google_claims(emulator_stack: EmulatorStack, request_) -> None:
    """fetch_id_token with GOOGLE_APPLICATION_CREDENTIALS gets a 1-hour RS256 token with Google's claims."""
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(emulator_stack.invoker_key)
    token = id_token.fetch_id_token(request_, emulator_stack.url)
    header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == emulator_stack.url
    assert claims["email"] == claims["azp"] == emulator_stack.invoker_email
    assert claims["email_verified"] is True
    assert claims["sub"].isdigit() and len(claims["sub"]) == 21
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("certs", ["certs_url", "jwks_url"])
def test_verify_token_accepts_emulator_tokens(emulator_stack: EmulatorStack, request_, certs: str) -> None:
    """google-auth's verify_token accepts the tokens against both certs documents (x509 PEM map and JWKS)."""
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(emulator_stack.invoker_key), target_audience="https://custom.example"
    )
    creds.refresh(request_)
    claims = id_token.verify_token(
        creds.token, request_, audience="https://custom.example", certs_url=getattr(emulator_stack, certs)
    )
    assert claims["email"] == emulator_stack.invoker_email


def test_certs_are_cacheable(emulator_stack: EmulatorStack) -> None:
    """Both certs documents carry Cache-Control with a max-age, as Google's do."""
    for url in (emulator_stack.certs_url, emulator_stack.jwks_url):
        response = httpx.get(url)
        assert response.status_code == 200
        assert "max-age=" in response.headers["cache-control"]


def test_forged_key_gets_invalid_grant(emulator_stack: EmulatorStack, tmp_path: Path, request_) -> None:
    """A key file whose private key is not the registered one is refused with Google's invalid_grant."""
    forged = json.loads(emulator_stack.invoker_key.read_text())
    forged["private_key"] = private_pem(generate_rsa_key())
    creds = service_account.IDTokenCredentials.from_service_account_info(forged, target_audience="x")
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        creds.refresh(request_)


def test_unknown_account_gets_invalid_grant(emulator_stack: EmulatorStack, request_) -> None:
    """A key file for an account the emulator does not know is refused with invalid_grant."""
    info = json.loads(emulator_stack.invoker_key.read_text())
    info["client_email"] = "ghost-sa@cloudgate-local.iam.gserviceaccount.com"
    creds = service_account.IDTokenCredentials.from_service_account_info(info, target_audience="x")
    with pytest.raises(auth_exceptions.RefreshError, match="invalid_grant"):
        creds.refresh(request_)


def test_key_file_without_target_audience_gets_access_token(emulator_stack: EmulatorStack, request_) -> None:
    """The jwt-bearer grant without target_audience returns an opaque Bearer access token."""
    creds = service_account.Credentials.from_service_account_file(
        str(emulator_stack.invoker_key), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(request_)
    assert creds.token.startswith("ya29.") and creds.expiry is not None


def test_user_credentials_impersonate_with_generate_id_token(emulator_stack: EmulatorStack, request_) -> None:
    """A user's refresh token yields an access token that may call generateIdToken on an account it may impersonate."""
    info = json.loads(emulator_stack.user_credentials.read_text())
    # google-auth ignores token_uri in authorized_user files (it always uses Google's): point it explicitly.
    user = user_credentials.Credentials.from_authorized_user_info(info).with_token_uri(info["token_uri"])
    user.refresh(request_)
    endpoint = f"{emulator_stack.emulator_url}/v1/projects/-/serviceAccounts/{{}}:generateIdToken"
    headers = {"Authorization": f"Bearer {user.token}"}
    allowed = httpx.post(
        endpoint.format(emulator_stack.invoker_email),
        json={"audience": emulator_stack.url, "includeEmail": True},
        headers=headers,
    )
    assert allowed.status_code == 200
    claims = jwt.decode(allowed.json()["token"], options={"verify_signature": False})
    assert claims["email"] == emulator_stack.invoker_email and claims["aud"] == emulator_stack.url
    refused = httpx.post(endpoint.format(emulator_stack.outsider_email), json={"audience": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["status"] == "PERMISSION_DENIED"


def test_short_token_lifetime_makes_credentials_refresh(emulator_stack: EmulatorStack, request_) -> None:
    """With the lifetime knob at 2 s, IDTokenCredentials see expiry and fetch a new token (counted per account)."""
    email = emulator_stack.outsider_email
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(emulator_stack.outsider_key), target_audience="https://lifetime.example"
    )
    emulator_stack.set_token_lifetime(2)
    try:
        before = emulator_stack.counter("id_tokens_by_account", email)
        creds.refresh(request_)
        first = creds.token
        claims = jwt.decode(first, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 2
        # google-auth counts a token as expired 3 min 45 s early, so a 2 s token is stale at once: no waiting.
        assert not creds.valid
        creds.before_request(request_, "GET", "https://lifetime.example", {})
        assert emulator_stack.counter("id_tokens_by_account", email) == before + 2
    finally:
        emulator_stack.set_token_lifetime(3600)


def test_rotation_keeps_previous_key_published(emulator_stack: EmulatorStack, request_) -> None:
    """After a key rotation, tokens signed before it still verify and new tokens use the new kid."""
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(emulator_stack.invoker_key), target_audience="https://rotation.example"
    )
    creds.refresh(request_)
    old = creds.token
    new_kid = emulator_stack.rotate_keys()
    creds.refresh(request_)
    assert jwt.get_unverified_header(creds.token)["kid"] == new_kid
    for token in (old, creds.token):
        id_token.verify_token(token, request_, audience="https://rotation.example", certs_url=emulator_stack.certs_url)


_METADATA_SCRIPT = """
import sys, google.auth, google.auth.transport.requests as r
from google.oauth2 import id_token
from google.auth.compute_engine import _metadata
request = r.Request()
token = id_token.fetch_id_token(request, sys.argv[1])
print(token)
print(_metadata.get_project_id(request))
credentials, project = google.auth.default()
credentials.refresh(request)
print(credentials.service_account_email)
"""


def test_metadata_server_serves_google_auth(emulator_stack: EmulatorStack, request_) -> None:
    """With GCE_METADATA_HOST/IP set, google-auth finds the metadata server and gets an ID token and project."""
    host = emulator_stack.emulator_url.removeprefix("http://")
    env = clean_env(GCE_METADATA_HOST=host, GCE_METADATA_IP=host)
    result = subprocess.run(
        [sys.executable, "-c", _METADATA_SCRIPT, emulator_stack.url],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    token, project, email = result.stdout.split()
    claims = id_token.verify_token(token, request_, audience=emulator_stack.url, certs_url=emulator_stack.certs_url)
    assert claims["email"] == email == emulator_stack.invoker_email
    assert project == "cloudgate-local"


def test_metadata_requires_flavor_header(emulator_stack: EmulatorStack) -> None:
    """The ping answers with Metadata-Flavor: Google; values need that header on the request (403 without)."""
    ping = httpx.get(emulator_stack.emulator_url + "/")
    assert ping.status_code == 200 and ping.headers["metadata-flavor"] == "Google"
    path = "/computeMetadata/v1/instance/service-accounts/default/email"
    assert httpx.get(emulator_stack.emulator_url + path).status_code == 403
    answer = httpx.get(emulator_stack.emulator_url + path, headers={"Metadata-Flavor": "Google"})
    assert answer.text == emulator_stack.invoker_email
