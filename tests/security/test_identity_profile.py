"""Google's ID-token profile, enforced in both modes that read claims (``cloud-run`` and ``verify``).

Attack: a token whose signature is fine (``verify``) or was vouched for by the front end (``cloud-run``) but whose
claims have a shape Google never issues: string or fractional or huge times, a lifetime longer than an hour, a
token issued in the future, an ``aud`` array, a string ``email_verified``, a foreign ``iss``. PyJWT alone accepts
several of these. Secure: 401 with reason ``id_token_invalid``, in both modes, and the token is not echoed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from cloudgate import codes
from cloudgate.google import SIGNATURE_REMOVED
from tests.e2e.service_env import AUDIENCE, SigningKey, claims
from tests.security.conftest import Attack, Secrets, Served, unsigned_jwt

pytestmark = pytest.mark.e2e

#: Each attack: the claims to change, given the time now (so a slow run cannot age a "future" token into the past).
ATTACKS: dict[str, Callable[[int], dict[str, Any]]] = {
    "exp-as-string": lambda now: {"exp": str(now + 600)},
    "exp-huge-float": lambda now: {"exp": 1e300},
    "exp-fractional": lambda now: {"exp": now + 600.5},
    "exp-boolean": lambda now: {"exp": True},
    "iat-as-string": lambda now: {"iat": str(now)},
    "iat-missing": lambda now: {"iat": None},
    "iat-negative": lambda now: {"iat": -1},
    "iat-in-the-future": lambda now: {"iat": now + 600, "exp": now + 1200},
    "lifetime-two-hours": lambda now: {"iat": now - 60, "exp": now + 7140},
    "lifetime-decades": lambda now: {"exp": now + 30 * 365 * 86400},
    "exp-far-beyond-2100": lambda now: {"exp": 2**53},
    "aud-array-with-ours": lambda now: {"aud": ["https://other.example", AUDIENCE]},
    "aud-array-only-ours": lambda now: {"aud": [AUDIENCE]},
    "email-verified-string": lambda now: {"email_verified": "true"},
    "email-verified-number": lambda now: {"email_verified": 1},
    "email-not-a-string": lambda now: {"email": ["caller@proj.iam.gserviceaccount.com"]},
    "iss-not-google": lambda now: {"iss": "https://evil.example"},
    "iss-missing": lambda now: {"iss": None},
}


def _claims(attack_name: str) -> dict[str, Any]:
    values = claims(**ATTACKS[attack_name](int(time.time())))
    return {name: value for name, value in values.items() if value is not None}


def _call(service: Served, secrets: Secrets, token: str) -> httpx.Response:
    headers = {"X-API-Key": secrets.keys["reader"], "X-Serverless-Authorization": f"Bearer {token}"}
    return httpx.get(f"{service.url}/v1/whoami", headers=headers, timeout=10)


def _stripped(values: dict[str, Any]) -> str:
    """The token as Cloud Run forwards it: claims as sent, signature replaced."""
    return unsigned_jwt(values, header={"alg": "RS256", "kid": "k", "typ": "JWT"}, signature=SIGNATURE_REMOVED)


def test_a_token_of_googles_exact_shape_passes_in_both_modes(
    cloud_run_service: Served, verify_service: Served, secrets: Secrets, signing_key: SigningKey
) -> None:
    """Control: the same claims, well formed, are accepted by both modes."""
    assert _call(cloud_run_service, secrets, _stripped(claims())).status_code == 200
    assert _call(verify_service, secrets, signing_key.sign()).status_code == 200


@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
def test_cloud_run_mode_refuses_claims_google_never_issues(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, attack_name: str
) -> None:
    token = _stripped(_claims(attack_name))
    response = attack(f"cloud-run {attack_name}", _call(cloud_run_service, secrets, token))
    assert response.json()["reason"] == codes.ID_TOKEN_INVALID
    assert token not in response.text


@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
def test_verify_mode_refuses_correctly_signed_claims_google_never_issues(
    verify_service: Served, secrets: Secrets, signing_key: SigningKey, attack: Attack, attack_name: str
) -> None:
    token = jwt.encode(_claims(attack_name), signing_key.private, algorithm="RS256", headers={"kid": signing_key.kid})
    response = attack(f"verify {attack_name}", _call(verify_service, secrets, token))
    assert response.json()["reason"] == codes.ID_TOKEN_INVALID
    assert token not in response.text
