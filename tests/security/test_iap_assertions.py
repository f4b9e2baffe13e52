"""Posing as a person IAP signed in, against a real ``cloudgate serve`` of the example app whose docs open through
IAP or a docs password (``CLOUDGATE_DOCS_AUTH=both``), reached directly, as only IAP should reach it.

Attacks on ``/docs``: the unsigned ``X-Goog-Authenticated-User-*`` headers alone, an assertion signed by a key not
in IAP's JWKs, one forged under IAP's own ``kid``, ``alg`` ``none`` and ``HS256`` keyed with IAP's public key, one
replayed from another service (another ``aud``), an expired one, another issuer, the header twice. Secure: 401, and
never the docs; the control (a valid assertion of the listed person) gets 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from cloudgate.google import IAP_ASSERTION_HEADER, IAP_USER_EMAIL_HEADER, IAP_USER_ID_HEADER
from tests.e2e.service_env import serve
from tests.security.conftest import Attack, Secrets, Served
from tests.unit.service.iap_helpers import AUDIENCE, EMAIL, iap_keys, mint, new_signer

pytestmark = pytest.mark.e2e

IAP_KEY = new_signer()
OTHER_KEY = new_signer()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{signature}"


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "https://cloud.google.com/iap", "aud": AUDIENCE, "sub": "accounts.google.com:1", "email": EMAIL,
            "iat": now, "exp": now + 600}  # fmt: skip


def _hs256_with_iaps_public_key() -> str:
    public = IAP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "kid": "iap1", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


#: name -> the headers the attacker sends (made when the test runs, so nothing expires during a long run).
ATTACKS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "unsigned-user-headers-only": lambda: [
        (IAP_USER_EMAIL_HEADER, f"accounts.google.com:{EMAIL}"), (IAP_USER_ID_HEADER, "accounts.google.com:1")],
    "key-not-in-iaps-jwks": lambda: [(IAP_ASSERTION_HEADER, mint(OTHER_KEY, kid="forged"))],
    "forged-under-iaps-kid": lambda: [(IAP_ASSERTION_HEADER, mint(OTHER_KEY, kid="iap1"))],
    "alg-none": lambda: [(IAP_ASSERTION_HEADER, _unsigned({"alg": "none", "kid": "iap1"}, _claims()))],
    "hs256-keyed-with-iaps-public-key": lambda: [(IAP_ASSERTION_HEADER, _hs256_with_iaps_public_key())],
    "replayed-from-another-service": lambda: [
        (IAP_ASSERTION_HEADER, mint(IAP_KEY, aud="/projects/123456789012/locations/us-central1/services/other"))],
    "expired": lambda: [(IAP_ASSERTION_HEADER, mint(IAP_KEY, iat=int(time.time()) - 1300, exp=int(time.time()) - 700))],
    "another-issuer": lambda: [(IAP_ASSERTION_HEADER, mint(IAP_KEY, iss="https://accounts.google.com"))],
    "header-twice": lambda: [(IAP_ASSERTION_HEADER, mint(IAP_KEY)), (IAP_ASSERTION_HEADER, mint(IAP_KEY))],
}  # fmt: skip


@pytest.fixture(scope="module")
def behind_iap(secrets: Secrets) -> Iterator[Served]:
    with iap_keys((IAP_KEY, "iap1")) as jwks_url:
        env = secrets.service_env(
            CLOUDGATE_DATA_DIR=str(secrets.root / "data-iap"),
            CLOUDGATE_IAP_AUDIENCE=AUDIENCE,
            CLOUDGATE_IAP_JWKS_URL=jwks_url,
            CLOUDGATE_DOCS_AUTH="both",
            CLOUDGATE_DOCS_IAP_USERS=EMAIL,
        )
        with serve("app.main:create_app", env) as served:
            yield served


def test_a_valid_assertion_of_the_listed_person_opens_the_docs(behind_iap: Served) -> None:
    response = httpx.get(f"{behind_iap.url}/docs", headers={IAP_ASSERTION_HEADER: mint(IAP_KEY)}, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_posing_as_an_iap_user_is_refused(behind_iap: Served, attack: Attack, name: str) -> None:
    response = attack(name, httpx.get(f"{behind_iap.url}/docs", headers=ATTACKS[name](), timeout=10))
    assert "swagger" not in response.text.lower()
