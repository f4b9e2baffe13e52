"""The caller's Google identity: cloud-run (signature stripped by Google) and verify (full RS256) modes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cloudgate.errors import ConfigError, InvalidCredentialsError, UnavailableError
from cloudgate.google import ID_TOKEN_ISSUER, SIGNATURE_REMOVED
from cloudgate.service.credentials import bearer_token
from cloudgate.service.identity import GoogleIdentity, IdentityChecker, TokenCache
from cloudgate.service.settings import IdentityMode, ServiceSettings
from tests.certs_endpoint import CertsEndpoint
from tests.keys import public_pem, x509_pem

AUDIENCE = "https://svc-abc-uc.a.run.app"
CERTS_URL = "http://certs.test/oauth2/v1/certs"
EMAIL = "caller@project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    """The key the fake Google signs with (generated per run, never committed)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def forger() -> rsa.RSAPrivateKey:
    """Somebody else's key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ID_TOKEN_ISSUER,
        "aud": AUDIENCE,
        "sub": "1234567890",
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def mint(key: rsa.RSAPrivateKey, kid: str = "k1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


def stripped(token: str) -> str:
    """What Cloud Run forwards to the container: the same token with its signature replaced."""
    return token.rsplit(".", 1)[0] + "." + SIGNATURE_REMOVED


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{signature}"


@pytest.fixture
def certs(signer: rsa.RSAPrivateKey) -> CertsEndpoint:
    return CertsEndpoint({"k1": public_pem(signer)}, delay=0.01)  # concurrent checks overlap one fetch


def settings(mode: IdentityMode, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {"identity": mode, "audiences": [AUDIENCE], "certs_url": CERTS_URL}
    values.update(overrides)
    return ServiceSettings(**values)


def checker(server: CertsEndpoint, mode: IdentityMode = IdentityMode.VERIFY, **overrides: Any) -> IdentityChecker:
    return IdentityChecker(settings(mode, **overrides), http=server.client())


async def refusal(check: IdentityChecker, token: str) -> str:
    """The message ``check`` refuses ``token`` with; it must be a Bearer 401 that does not echo the token."""
    with pytest.raises(InvalidCredentialsError) as info:
        await check.check(token)
    message = str(info.value)
    assert info.value.status == 401 and info.value.scheme == "Bearer"
    assert token not in message
    assert all(part not in message for part in token.split(".") if len(part) > 8)
    return message


# verify mode


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["public-key", "x509", "jwks"])
async def test_verify_accepts_a_google_signed_token(signer: rsa.RSAPrivateKey, form: str) -> None:
    """A valid token is accepted whichever certs format the URL serves."""
    documents = {
        "public-key": {"k1": public_pem(signer)},
        "x509": {"k1": x509_pem(signer)},
        "jwks": {"keys": [{**RSAAlgorithm.to_jwk(signer.public_key(), as_dict=True), "kid": "k1"}]},
    }
    token = mint(signer)
    identity = await checker(CertsEndpoint(documents[form])).check(token)
    expected_exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert identity == GoogleIdentity(email=EMAIL, subject="1234567890", audience=AUDIENCE, expires_at=expected_exp)


@pytest.mark.anyio
async def test_verify_accepts_the_short_issuer_and_a_listed_custom_audience(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    check = checker(certs, audiences=[AUDIENCE, "https://api.example.com"])
    identity = await check.check(mint(signer, iss="accounts.google.com", aud="https://api.example.com"))
    assert identity.audience == "https://api.example.com"


@pytest.mark.anyio
async def test_verify_accepts_a_token_without_email(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    """Impersonated tokens minted without include_email carry only sub."""
    identity = await checker(certs).check(mint(signer, email=None, email_verified=None))
    assert identity.email is None and identity.subject == "1234567890"


@pytest.mark.anyio
async def test_verify_refuses_a_token_signed_by_another_key(
    signer: rsa.RSAPrivateKey, forger: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    assert "bad signature" in await refusal(checker(certs), mint(forger))


@pytest.mark.anyio
async def test_verify_refuses_an_expired_token(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    now = int(time.time())
    assert "expired" in await refusal(checker(certs), mint(signer, iat=now - 3700, exp=now - 100))


@pytest.mark.anyio
async def test_verify_allows_expiry_within_the_clock_skew(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    now = int(time.time())
    identity = await checker(certs, clock_skew_seconds=30).check(mint(signer, iat=now - 3610, exp=now - 10))
    assert identity.expires_at == now - 10


@pytest.mark.anyio
async def test_verify_refuses_a_token_issued_in_the_future(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    now = int(time.time())
    assert "not valid yet" in await refusal(checker(certs), mint(signer, iat=now + 600, exp=now + 4200))


@pytest.mark.anyio
async def test_verify_refuses_the_wrong_audience(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    assert "wrong audience" in await refusal(checker(certs), mint(signer, aud="https://other-xyz-uc.a.run.app"))


@pytest.mark.anyio
async def test_verify_refuses_a_non_google_issuer(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    assert "wrong iss" in await refusal(checker(certs), mint(signer, iss="https://evil.example.com"))


@pytest.mark.anyio
@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub"])
async def test_verify_refuses_a_token_missing_a_required_claim(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint, missing: str
) -> None:
    assert f"no {missing} claim" in await refusal(checker(certs), mint(signer, **{missing: None}))


@pytest.mark.anyio
async def test_verify_refuses_alg_none(certs: CertsEndpoint) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "k1"}, claims())
    assert "algorithm 'none' is not accepted" in await refusal(checker(certs), token)
    assert certs.requests == 0


@pytest.mark.anyio
async def test_verify_refuses_hs256_signed_with_the_public_key(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    """The classic key-confusion attack: HMAC with the published PEM as the secret."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem(signer).encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert "algorithm 'HS256' is not accepted" in await refusal(checker(certs), f"{header}.{payload}.{b64(mac)}")


@pytest.mark.anyio
async def test_verify_refuses_an_rs256_header_on_a_tampered_payload(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    header, _, signature = mint(signer).split(".")
    tampered = b64(json.dumps(claims(email="admin@example.com")).encode())
    assert "bad signature" in await refusal(checker(certs), f"{header}.{tampered}.{signature}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("header.payload", "three base64url segments"),
        ("only-one-segment", "three base64url segments"),
        ("a.b.c.d", "three base64url segments"),
        ("ab!c.ZGVm.c2ln", "three base64url segments"),
        ("e30.e30xx.sig", "not valid base64url"),  # 5 characters cannot be base64
        (f"{b64(b'not json')}.{b64(b'{}')}.sig", "header is not JSON"),
        (f"{b64(b'{}')}.{b64(b'[1, 2]')}.sig", "payload is not a JSON object"),
        (f"{b64(bytes([0xFF, 0xFE]))}.{b64(b'{}')}.sig", "header is not JSON"),
        ("e30." + b64(b'{"exp": Infinity}') + ".sig", "payload is not JSON"),
        ("e30." + b64(b'{"exp": NaN}') + ".sig", "payload is not JSON"),
        ("a." * 9000 + "b", "longer than"),
    ],
)
async def test_malformed_tokens_are_refused_with_the_reason(certs: CertsEndpoint, token: str, reason: str) -> None:
    for each in (IdentityMode.VERIFY, IdentityMode.CLOUD_RUN):
        message = await refusal(checker(certs, each), token)
        assert message.startswith("malformed ID token") and reason in message
    assert certs.requests == 0


@pytest.mark.anyio
async def test_verify_refuses_a_token_without_kid(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    token = jwt.encode(claims(), signer, algorithm="RS256")
    assert "no key id" in await refusal(checker(certs), token)


@pytest.mark.anyio
async def test_unknown_kid_is_refused_without_a_fetch_per_request(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    """Made-up key ids cost one fetch, then nothing until the cooldown ends."""
    check = checker(certs, certs_refetch_cooldown_seconds=600)
    for _ in range(10):
        assert "unknown key id" in await refusal(check, mint(signer, kid="made-up"))
    assert certs.requests == 1


@pytest.mark.anyio
async def test_a_rotated_key_is_picked_up_by_a_refetch(
    signer: rsa.RSAPrivateKey, forger: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    check = checker(certs, certs_refetch_cooldown_seconds=0)
    await check.check(mint(signer))
    certs.document = {"k1": public_pem(signer), "k2": public_pem(forger)}
    identity = await check.check(mint(forger, kid="k2"))
    assert identity.subject == "1234567890"
    assert certs.requests == 2


@pytest.mark.anyio
async def test_concurrent_checks_fetch_the_certs_once(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    check = checker(certs)
    tokens = [mint(signer, sub=f"user-{i}") for i in range(40)]
    identities = await asyncio.gather(*(check.check(token) for token in tokens))
    assert [identity.subject for identity in identities] == [f"user-{i}" for i in range(40)]
    assert certs.requests == 1


@pytest.mark.anyio
async def test_certs_are_refetched_when_max_age_says_so(signer: rsa.RSAPrivateKey) -> None:
    """Cache-Control: max-age=0 means every verification needs fresh keys; max-age=600 means one fetch."""
    for cache_control, expected in (("max-age=0", 3), ("public, max-age=600", 1)):
        server = CertsEndpoint({"k1": public_pem(signer)}, cache_control=cache_control)
        check = checker(server)
        for i in range(3):
            await check.check(mint(signer, sub=f"user-{i}"))
        assert server.requests == expected, cache_control


@pytest.mark.anyio
async def test_a_cached_token_is_not_verified_again(signer: rsa.RSAPrivateKey) -> None:
    """With max-age=0 every verification fetches the keys, so the fetch count counts verifications."""
    server = CertsEndpoint({"k1": public_pem(signer)}, cache_control="max-age=0")
    check = checker(server)
    token = mint(signer)
    first = await check.check(token)
    assert await check.check(token) is first
    assert server.requests == 1
    await check.check(mint(signer, sub="someone-else"))
    assert server.requests == 2


@pytest.mark.anyio
async def test_a_refused_token_is_not_cached(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    check = checker(certs, certs_refetch_cooldown_seconds=0)
    token = mint(signer, kid="k2")
    await refusal(check, token)
    certs.document = {"k2": public_pem(signer)}
    assert (await check.check(token)).subject == "1234567890"


@pytest.mark.anyio
async def test_verify_refuses_unverified_email(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    for verified in (False, None):
        token = mint(signer, email_verified=verified)
        assert "email is not verified" in await refusal(checker(certs), token)


@pytest.mark.anyio
async def test_verify_refuses_a_signature_stripped_token(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    message = await refusal(checker(certs), stripped(mint(signer)))
    assert "CLOUDGATE_IDENTITY=cloud-run" in message
    assert certs.requests == 0


def test_verify_mode_without_audiences_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_AUDIENCES"):
        IdentityChecker(settings(IdentityMode.VERIFY, audiences=[]))


@pytest.mark.anyio
async def test_certs_fetch_failure_is_a_503_that_says_so(signer: rsa.RSAPrivateKey) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    check = IdentityChecker(settings(IdentityMode.VERIFY), http=httpx.AsyncClient(transport=httpx.MockTransport(down)))
    with pytest.raises(UnavailableError, match="signing keys could not be fetched") as info:
        await check.check(mint(signer))
    assert info.value.status == 503


@pytest.fixture
def real_certs_server(signer: rsa.RSAPrivateKey) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the certs document."""
    with CertsEndpoint({"k1": public_pem(signer)}).served() as url:
        yield url


@pytest.mark.anyio
async def test_verify_with_its_own_http_client_over_real_http(
    signer: rsa.RSAPrivateKey, real_certs_server: str
) -> None:
    check = IdentityChecker(settings(IdentityMode.VERIFY, certs_url=real_certs_server))
    try:
        assert (await check.check(mint(signer))).email == EMAIL
    finally:
        await check.aclose()


# cloud-run mode


@pytest.mark.anyio
async def test_cloud_run_accepts_a_signature_stripped_token(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    identity = await checker(certs, IdentityMode.CLOUD_RUN).check(stripped(mint(signer)))
    assert (identity.email, identity.audience) == (EMAIL, AUDIENCE)
    assert certs.requests == 0


@pytest.mark.anyio
async def test_cloud_run_without_audiences_accepts_what_cloud_run_checked(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint
) -> None:
    check = checker(certs, IdentityMode.CLOUD_RUN, audiences=[])
    identity = await check.check(stripped(mint(signer, aud="https://custom.example.com")))
    assert identity.audience == "https://custom.example.com"


@pytest.mark.anyio
async def test_cloud_run_refuses_a_token_with_a_real_signature(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    """A signed token did not pass through Cloud Run's IAM front end (which strips signatures)."""
    message = await refusal(checker(certs, IdentityMode.CLOUD_RUN), mint(signer))
    assert "not forwarded by Cloud Run" in message and "CLOUDGATE_IDENTITY=verify" in message


@pytest.mark.anyio
async def test_cloud_run_refuses_alg_none_without_the_marker(certs: CertsEndpoint) -> None:
    token = unsigned({"alg": "none"}, claims())
    assert "not forwarded by Cloud Run" in await refusal(checker(certs, IdentityMode.CLOUD_RUN), token)


@pytest.mark.anyio
async def test_cloud_run_refuses_the_wrong_audience(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    token = stripped(mint(signer, aud="https://other-xyz-uc.a.run.app"))
    assert "wrong audience" in await refusal(checker(certs, IdentityMode.CLOUD_RUN), token)


@pytest.mark.anyio
async def test_cloud_run_refuses_an_expired_token(signer: rsa.RSAPrivateKey, certs: CertsEndpoint) -> None:
    now = int(time.time())
    token = stripped(mint(signer, iat=now - 3700, exp=now - 100))
    assert "expired" in await refusal(checker(certs, IdentityMode.CLOUD_RUN, clock_skew_seconds=30), token)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"email_verified": False}, "email is not verified"),
        ({"email_verified": None}, "email is not verified"),
        ({"exp": None}, "exp must be an integer"),
        ({"exp": "tomorrow"}, "exp must be an integer"),
        ({"sub": None}, "no sub claim"),
        ({"aud": None}, "aud must be a single string"),
    ],
)
async def test_cloud_run_refuses_bad_claims(
    signer: rsa.RSAPrivateKey, certs: CertsEndpoint, overrides: dict[str, Any], reason: str
) -> None:
    check = checker(certs, IdentityMode.CLOUD_RUN, audiences=[])
    assert reason in await refusal(check, stripped(mint(signer, **overrides)))


# the token cache, the header helper, cold start


def test_importing_identity_loads_no_heavy_module() -> None:
    """Cold start on Cloud Run: httpx, PyJWT, cryptography and google-auth load only when first needed."""
    code = "import sys, cloudgate.service.identity; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))"
    heavy = ("httpx", "jwt", "cryptography", "google")
    result = subprocess.run([sys.executable, "-c", code % (heavy,)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_token_cache_forgets_a_token_at_its_expiry_plus_skew() -> None:
    now = [1000.0]
    cache = TokenCache(max_entries=10, skew=30, clock=lambda: now[0])
    identity = GoogleIdentity(email=None, subject="s", audience=AUDIENCE, expires_at=2000)
    cache.put(b"d", identity)
    now[0] = 2029.0
    assert cache.get(b"d") is identity
    now[0] = 2030.0
    assert cache.get(b"d") is None
    assert len(cache) == 0


def test_token_cache_is_bounded_and_drops_the_oldest() -> None:
    cache = TokenCache(max_entries=3, skew=0, clock=lambda: 0.0)
    for i in range(5):
        cache.put(bytes([i]), GoogleIdentity(email=None, subject=str(i), audience=AUDIENCE, expires_at=100))
    assert len(cache) == 3
    assert cache.get(bytes([0])) is None and cache.get(bytes([1])) is None
    assert [cache.get(bytes([i])) is not None for i in (2, 3, 4)] == [True, True, True]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer a-._~+/Z9==", "a-._~+/Z9=="),
        ("Basic dXNlcjpwYXNz", None),
        ("", None),
    ],
)
def test_bearer_token_extracts_the_token_of_the_bearer_scheme(header: str, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer\tabc",
        "Bearer a,b",
        "Bearer a\x0bb",
        "abc.def.ghi",
        "Bearer ==",
        "Bearer a=b",
        "Bearer ab\u00e9",
        "Bearer ab\u0663",
    ],
)
def test_a_malformed_bearer_value_is_refused_not_ignored(header: str) -> None:
    with pytest.raises(InvalidCredentialsError, match="malformed Authorization header"):
        bearer_token(header)
