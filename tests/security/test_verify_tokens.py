"""Token confusion against a real service in ``verify`` mode (full RS256 against a certs URL).

Attacks: algorithm tricks (none, HS256 keyed with the public key, PS256), kid injection and floods, aud arrays,
exp/iat edges, wrong issuer, stripped signatures, unverified emails. The secure answer is always 401 with no token
echoed, and a kid flood costs at most one certs fetch per cooldown.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from cloudgate.google import SIGNATURE_REMOVED
from tests.e2e.service_env import AUDIENCE, SigningKey, new_signing_key
from tests.security.conftest import KID, CertsServer, Secrets, Served, claims, unsigned_jwt

pytestmark = pytest.mark.e2e


def _whoami(
    service: Served, secrets: Secrets, token: str, header: str = "X-Serverless-Authorization"
) -> httpx.Response:
    headers = {"X-API-Key": secrets.keys["reader"], header: f"Bearer {token}"}
    return httpx.get(f"{service.url}/v1/whoami", headers=headers, timeout=10)


def test_a_genuine_token_is_accepted(verify_service: Served, secrets: Secrets, signing_key: SigningKey) -> None:
    """Control: a correctly signed token for the service's audience passes, from either header."""
    for header in ("X-Serverless-Authorization", "Authorization"):
        response = _whoami(verify_service, secrets, signing_key.sign(), header)
        assert response.status_code == 200
        assert response.json()["email"] == "caller@proj.iam.gserviceaccount.com"


def test_only_our_audience_as_one_string_is_accepted(
    verify_service: Served, secrets: Secrets, signing_key: SigningKey
) -> None:
    """Attack: an aud that merely resembles ours, or an array (which Google never issues) naming it among others.
    Secure: only the exact single string is accepted."""
    assert _whoami(verify_service, secrets, signing_key.sign(aud=AUDIENCE)).status_code == 200
    for aud in (
        ["https://x.example", AUDIENCE],
        [AUDIENCE],
        ["https://x.example", "https://y.example"],
        [],
        AUDIENCE + "/",
        AUDIENCE.upper(),
        f"{AUDIENCE}.evil",
    ):
        response = _whoami(verify_service, secrets, signing_key.sign(aud=aud))
        assert response.status_code == 401, aud


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": -60}, id="expired-beyond-skew"),
        pytest.param({"iat": 600, "exp": 4200}, id="issued-in-future"),
        pytest.param({"iss": "https://evil.example"}, id="wrong-issuer"),
        pytest.param({"iss": "accounts.google.com.evil.example"}, id="issuer-prefix"),
        pytest.param({"email_verified": False}, id="email-unverified"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"sub": None}, id="no-sub"),
        pytest.param({"iss": None}, id="no-iss"),
    ],
)
def test_bad_claims_in_a_correctly_signed_token(
    verify_service: Served, secrets: Secrets, signing_key: SigningKey, overrides: dict[str, object]
) -> None:
    """Attack: a token signed by the right key but with claims that must not pass. Secure: 401.

    ``exp``/``iat`` overrides are offsets from the moment the test runs (not from collection, which can be many
    minutes earlier on a loaded machine)."""
    now = int(time.time())
    given = {k: (now + v if k in ("exp", "iat") and isinstance(v, int) else v) for k, v in overrides.items()}
    values = claims(**{k: v for k, v in given.items() if v is not None})
    for name in [k for k, v in given.items() if v is None]:
        del values[name]
    token = jwt.encode(values, signing_key.private, algorithm="RS256", headers={"kid": signing_key.kid})
    response = _whoami(verify_service, secrets, token)
    assert response.status_code == 401
    assert token not in response.text


def test_algorithm_tricks_are_refused(verify_service: Served, secrets: Secrets, signing_key: SigningKey) -> None:
    """Attack: alg none, HS256 keyed with the public PEM (key confusion), PS256/RS512 with the right key, and a
    stripped (SIGNATURE_REMOVED) token. Secure: 401 for each."""
    pem = signing_key.public_pem.encode()
    import hashlib
    import hmac

    head_body = unsigned_jwt(claims(), header={"alg": "HS256", "kid": KID, "typ": "JWT"})[:-1]
    mac = hmac.new(pem, head_body.encode(), hashlib.sha256).digest()
    import base64

    hs256 = head_body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    tokens = [
        unsigned_jwt(claims(), header={"alg": "none", "kid": KID}),
        unsigned_jwt(claims(), header={"alg": "None", "kid": KID}),
        hs256,
        jwt.encode(claims(), signing_key.private, algorithm="PS256", headers={"kid": KID}),
        jwt.encode(claims(), signing_key.private, algorithm="RS512", headers={"kid": KID}),
        signing_key.sign().rsplit(".", 1)[0] + "." + SIGNATURE_REMOVED,
        signing_key.sign().rsplit(".", 1)[0] + ".",
    ]
    for token in tokens:
        response = _whoami(verify_service, secrets, token)
        assert response.status_code == 401, token.split(".")[0]


def test_kid_tricks_are_refused(verify_service: Served, secrets: Secrets, signing_key: SigningKey) -> None:
    """Attack: our kid with another key's signature, path/URL-shaped kids, a jku/x5u/jwk header pointing at the
    attacker's key, a missing or non-string kid. Secure: 401 for each."""
    attacker: SigningKey = new_signing_key(KID)
    pem = attacker.public_pem
    headers: list[dict[str, object]] = [
        {"kid": KID},
        {"kid": "../../../../etc/passwd"},
        {"kid": "http://127.0.0.1:9/keys"},
        {"kid": KID, "jku": "http://127.0.0.1:9/jwks"},
        {"kid": KID, "x5u": "http://127.0.0.1:9/cert"},
        {"kid": KID, "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"kid": KID, "x5c": [pem]},
    ]
    for header in headers:
        token = jwt.encode(claims(), attacker.private, algorithm="RS256", headers=header)
        assert _whoami(verify_service, secrets, token).status_code == 401, header
    for header in ({}, {"kid": 7}, {"kid": ""}):
        token = unsigned_jwt(claims(), header={"alg": "RS256", **header}, signature="c2ln")
        assert _whoami(verify_service, secrets, token).status_code == 401, header


def test_a_kid_flood_causes_at_most_one_certs_fetch(
    verify_service: Served, secrets: Secrets, signing_key: SigningKey, certs: CertsServer
) -> None:
    """Attack: many tokens with made-up kids, each of which could trigger a refetch of Google's keys (amplified
    traffic to Google, rate limits). Secure: at most one fetch per cooldown (30 s here) for the whole flood."""
    assert _whoami(verify_service, secrets, signing_key.sign()).status_code == 200  # keys loaded
    before = len(certs.hits)
    with httpx.Client(base_url=verify_service.url) as client:
        for index in range(40):
            token = unsigned_jwt(claims(), header={"alg": "RS256", "kid": f"made-up-{index}"}, signature="c2ln")
            headers = {"X-API-Key": secrets.keys["reader"], "Authorization": f"Bearer {token}"}
            assert client.get("/v1/whoami", headers=headers).status_code == 401
    assert len(certs.hits) - before <= 1


def test_oversized_and_malformed_tokens_are_cheap_401s(verify_service: Served, secrets: Secrets) -> None:
    """Attack: a 60 KB token, deeply nested JSON, non-object JSON, bad base64. Secure: 401, never 500."""
    nested = "[" * 5000 + "]" * 5000
    import base64

    def seg(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    for token in [
        "a" * 60_000,
        f"{seg('{}')}.{seg(nested)}.c2ln",
        f"{seg('[]')}.{seg('{}')}.c2ln",
        f"{seg('{}')}.{seg('NaN')}.c2ln",
        "e30.e30.@@@",
        "....",
    ]:
        response = _whoami(verify_service, secrets, token, header="Authorization")
        assert response.status_code == 401, token[:40]
