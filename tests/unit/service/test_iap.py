"""The IAP assertion (X-Goog-IAP-JWT-Assertion) against Google's profile: each claim wrong in turn is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from starlette.datastructures import Headers

from cloudgate import codes
from cloudgate.errors import ConfigError, InvalidCredentialsError, MissingCredentialsError, UnavailableError
from cloudgate.google import IAP_ASSERTION_HEADER, IAP_ISSUER, IAP_USER_EMAIL_HEADER, IAP_USER_ID_HEADER
from cloudgate.service.iap import IapIdentity, IapVerifier
from cloudgate.service.settings import ServiceSettings

AUDIENCE = "/projects/123456789012/global/backendServices/4242424242424242"
JWKS_URL = "http://iap-keys.test/iap/verify/public_key-jwk"
EMAIL = "alice@example.com"
SUB = "accounts.google.com:112233445566778899"
#: The verifier's clock: a fixed instant, so no test depends on the wall clock.
NOW = 1_800_000_000
SKEW = 30


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    """The key the stand-in IAP signs with (P-256, generated per run, never committed)."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def forger() -> ec.EllipticCurvePrivateKey:
    """Somebody else's P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """A key as IAP publishes it at public_key-jwk."""
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256", "use": "sig"}


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides: Any) -> dict[str, Any]:
    """A payload of Google's documented shape; an override of ``None`` removes the claim."""
    base: dict[str, Any] = {
        "iss": IAP_ISSUER,
        "aud": AUDIENCE,
        "sub": SUB,
        "email": EMAIL,
        "hd": "example.com",
        "iat": NOW - 10,
        "exp": NOW + 590,
        "google": {"access_levels": ["accessPolicies/1/accessLevels/corp"]},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def mint(key: ec.EllipticCurvePrivateKey, kid: str = "k1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="ES256", headers={"kid": kid})


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


class KeysServer:
    """IAP's key endpoint, in process (httpx MockTransport); counts fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, json=self.document, headers={"Cache-Control": "public, max-age=600"})


@pytest.fixture
def keys(signer: ec.EllipticCurvePrivateKey) -> KeysServer:
    return KeysServer({"keys": [jwk(signer, "k1")]})


def settings(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {"iap_audience": AUDIENCE, "iap_jwks_url": JWKS_URL, "clock_skew_seconds": SKEW}
    values.update(overrides)
    return ServiceSettings(**values)


def verifier(server: KeysServer, now: float = NOW, **overrides: Any) -> IapVerifier:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handle))
    return IapVerifier(settings(**overrides), http=http, clock=lambda: now)


async def refusal(check: IapVerifier, assertion: str) -> str:
    """The message ``check`` refuses ``assertion`` with: a 401 with IAP's reason that never echoes the token."""
    with pytest.raises(InvalidCredentialsError) as info:
        await check.verify(assertion)
    message = str(info.value)
    assert info.value.status == 401 and info.value.reason == codes.IAP_ASSERTION_INVALID
    assert all(part not in message for part in assertion.split(".") if len(part) > 8)
    return message


# What passes


@pytest.mark.anyio
async def test_a_valid_assertion_gives_the_signed_in_person(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    identity = await verifier(keys).verify(mint(signer))
    assert identity == IapIdentity(
        email=EMAIL,
        subject=SUB,
        audience=AUDIENCE,
        expires_at=NOW + 590,
        hosted_domain="example.com",
        access_levels=("accessPolicies/1/accessLevels/corp",),
    )


@pytest.mark.anyio
async def test_iaps_pem_key_format_is_accepted_too(signer: ec.EllipticCurvePrivateKey) -> None:
    """https://www.gstatic.com/iap/verify/public_key publishes the same keys as {kid: PEM}."""
    identity = await verifier(KeysServer({"k1": public_pem(signer)})).verify(mint(signer))
    assert identity.email == EMAIL


@pytest.mark.anyio
async def test_a_consumer_account_without_hd_or_access_levels_passes(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    identity = await verifier(keys).verify(mint(signer, hd=None, google=None))
    assert (identity.hosted_domain, identity.access_levels) == (None, ())


@pytest.mark.anyio
async def test_keys_are_fetched_once_for_many_assertions(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    check = verifier(keys)
    for n in range(3):
        await check.verify(mint(signer, sub=f"accounts.google.com:{n}"))
    assert keys.requests == 1


@pytest.mark.anyio
async def test_expiry_within_the_clock_skew_passes(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    """The same tolerance ID tokens get (CLOUDGATE_CLOCK_SKEW_SECONDS)."""
    identity = await verifier(keys, now=NOW + 590 + SKEW - 1).verify(mint(signer))
    assert identity.email == EMAIL


# The signature and the key


@pytest.mark.anyio
async def test_a_bad_signature_is_refused(
    signer: ec.EllipticCurvePrivateKey, forger: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    """Signed by another key under IAP's kid."""
    assert "bad signature" in await refusal(verifier(keys), mint(forger, kid="k1"))


@pytest.mark.anyio
async def test_an_altered_payload_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    header, _, signature = mint(signer).split(".")
    forged_payload = b64(json.dumps(claims(email="mallory@example.com")).encode())
    assert "bad signature" in await refusal(verifier(keys), f"{header}.{forged_payload}.{signature}")


@pytest.mark.anyio
async def test_a_key_not_in_iaps_jwks_is_refused(forger: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    assert "not one of IAP's" in await refusal(verifier(keys), mint(forger, kid="forged"))


@pytest.mark.anyio
async def test_a_missing_kid_is_refused_without_a_fetch(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    assertion = jwt.encode(claims(), signer, algorithm="ES256")
    assert "no key id" in await refusal(verifier(keys), assertion)
    assert keys.requests == 0


@pytest.mark.anyio
async def test_alg_none_is_refused_without_a_fetch(keys: KeysServer) -> None:
    assertion = unsigned({"alg": "none", "kid": "k1"}, claims()) + "."
    assert "'none' is not accepted" in await refusal(verifier(keys), assertion)
    assert keys.requests == 0


@pytest.mark.anyio
async def test_hs256_keyed_with_iaps_public_key_is_refused(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    """The algorithm-confusion forgery: an HMAC whose secret is the published public key."""
    signing_input = unsigned({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims())
    mac = hmac.new(public_pem(signer).encode(), signing_input.encode(), hashlib.sha256).digest()
    assert "'HS256' is not accepted" in await refusal(verifier(keys), f"{signing_input}.{b64(mac)}")
    assert keys.requests == 0


@pytest.mark.anyio
async def test_rs256_is_refused(keys: KeysServer) -> None:
    """A Google ID token's algorithm is not IAP's, whoever signed it."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assertion = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert "'RS256' is not accepted" in await refusal(verifier(keys), assertion)


@pytest.mark.anyio
async def test_an_es256_header_over_a_p384_key_set_is_refused() -> None:
    """Only P-256 keys are IAP's: a key set of other curves holds no usable key (503, never a pass)."""
    other = ec.generate_private_key(ec.SECP384R1())
    server = KeysServer({"keys": [{**ECAlgorithm.to_jwk(other.public_key(), as_dict=True), "kid": "k1"}]})
    with pytest.raises(UnavailableError, match="cannot verify IAP assertions"):
        await verifier(server).verify(mint(ec.generate_private_key(ec.SECP256R1())))


# The payload, claim by claim


@pytest.mark.anyio
@pytest.mark.parametrize(
    "issuer", ["https://accounts.google.com", "cloud.google.com/iap", "https://cloud.google.com/iap/"]
)
async def test_a_wrong_issuer_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer, issuer: str) -> None:
    assert "not issued by IAP" in await refusal(verifier(keys), mint(signer, iss=issuer))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "audience",
    [
        "/projects/123456789012/global/backendServices/1",
        "/projects/123456789012/apps/my-project",
        "https://svc-abc-uc.a.run.app",
        [AUDIENCE, "/projects/1/global/backendServices/2"],
        [AUDIENCE],
    ],
)
async def test_a_wrong_audience_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer, audience: Any) -> None:
    """aud must be one string equal to CLOUDGATE_IAP_AUDIENCE (an array, even holding it, is not IAP's shape)."""
    assert "wrong audience" in await refusal(verifier(keys), mint(signer, aud=audience))


@pytest.mark.anyio
async def test_an_expired_assertion_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    assert "expired" in await refusal(verifier(keys, now=NOW + 590 + SKEW), mint(signer))


@pytest.mark.anyio
async def test_an_assertion_issued_in_the_future_is_refused(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    assertion = mint(signer, iat=NOW + SKEW + 1, exp=NOW + SKEW + 301)
    assert "issued in the future" in await refusal(verifier(keys), assertion)


@pytest.mark.anyio
async def test_a_lifetime_longer_than_iaps_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    """Google: "The maximum lifetime for a token is 10 minutes + 2 * skew"."""
    assertion = mint(signer, iat=NOW - 10, exp=NOW - 10 + 600 + 2 * SKEW + 1)
    assert "lifetime" in await refusal(verifier(keys), assertion)


@pytest.mark.anyio
@pytest.mark.parametrize("claim", ["email", "sub", "exp", "iat", "iss", "aud"])
async def test_a_missing_claim_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer, claim: str) -> None:
    assert f"no {claim} claim" in await refusal(verifier(keys), mint(signer, **{claim: None}))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claim", "value"),
    [("email", ""), ("email", ["alice@example.com"]), ("sub", ""), ("sub", 42), ("hd", True)],
)
async def test_a_malformed_identity_claim_is_refused(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer, claim: str, value: Any
) -> None:
    assert f"{claim} must be" in await refusal(verifier(keys), mint(signer, **{claim: value}))


@pytest.mark.anyio
@pytest.mark.parametrize("value", [str(NOW + 590), NOW + 590.5, True])
async def test_an_exp_that_is_not_integer_seconds_is_refused(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer, value: Any
) -> None:
    assert "malformed IAP assertion" in await refusal(verifier(keys), mint(signer, exp=value))


@pytest.mark.anyio
@pytest.mark.parametrize("google", ["corp", {"access_levels": "corp"}, {"access_levels": [1]}])
async def test_malformed_access_levels_are_refused(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer, google: Any
) -> None:
    assert "access_levels" in await refusal(verifier(keys), mint(signer, google=google))


# The request: the signed header or nothing


@pytest.mark.anyio
async def test_unsigned_iap_headers_alone_are_refused(keys: KeysServer) -> None:
    """A request that bypassed IAP, naming a user in the headers IAP sets, has no IAP identity."""
    forged = Headers({IAP_USER_EMAIL_HEADER: f"accounts.google.com:{EMAIL}", IAP_USER_ID_HEADER: SUB})
    with pytest.raises(MissingCredentialsError) as info:
        await verifier(keys).identify(forged)
    assert info.value.status == 401 and info.value.reason == codes.IAP_ASSERTION_MISSING
    assert keys.requests == 0


@pytest.mark.anyio
async def test_the_assertion_header_is_read_from_the_request(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    identity = await verifier(keys).identify(Headers({IAP_ASSERTION_HEADER.lower(): mint(signer)}))
    assert identity.email == EMAIL


@pytest.mark.anyio
async def test_the_assertion_header_sent_twice_is_refused(signer: ec.EllipticCurvePrivateKey, keys: KeysServer) -> None:
    name = IAP_ASSERTION_HEADER.lower().encode()
    headers = Headers(raw=[(name, mint(signer).encode()), (name, mint(signer, email="eve@example.com").encode())])
    with pytest.raises(InvalidCredentialsError, match="more than once"):
        await verifier(keys).identify(headers)


@pytest.mark.anyio
async def test_a_malformed_assertion_is_refused(keys: KeysServer) -> None:
    assert "malformed IAP assertion" in await refusal(verifier(keys), "not-a-jwt")


# Settings


def test_a_verifier_needs_the_expected_audience(keys: KeysServer) -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_IAP_AUDIENCE"):
        IapVerifier(settings(iap_audience=""))


def test_the_keys_url_must_be_http(keys: KeysServer) -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_IAP_JWKS_URL"):
        IapVerifier(settings(iap_jwks_url="file:///etc/keys.json"))


def test_the_settings_default_to_iaps_published_keys_and_no_audience() -> None:
    defaults = ServiceSettings()
    assert defaults.iap_jwks_url == "https://www.gstatic.com/iap/verify/public_key-jwk"
    assert defaults.iap_audience == ""


# The cache of assertions that passed


@pytest.mark.anyio
async def test_a_remembered_assertion_is_refused_once_it_expires(
    signer: ec.EllipticCurvePrivateKey, keys: KeysServer
) -> None:
    """A repeat is remembered (same identity), but never past exp + skew."""
    clock = [float(NOW)]
    http = httpx.AsyncClient(transport=httpx.MockTransport(keys.handle))
    check = IapVerifier(settings(), http=http, clock=lambda: clock[0])
    assertion = mint(signer)
    first = await check.verify(assertion)
    clock[0] = NOW + 590 + SKEW - 1
    assert await check.verify(assertion) is first
    clock[0] = NOW + 590 + SKEW
    assert "has expired" in await refusal(check, assertion)


@pytest.mark.anyio
async def test_a_refused_assertion_is_not_remembered(
    signer: ec.EllipticCurvePrivateKey, forger: ec.EllipticCurvePrivateKey
) -> None:
    """Refused while IAP's key set lacks its key; accepted once the set holds it."""
    server = KeysServer({"keys": [jwk(forger, "k0")]})
    check = verifier(server, certs_refetch_cooldown_seconds=0)
    assertion = mint(signer)
    await refusal(check, assertion)
    server.document = {"keys": [jwk(signer, "k1")]}
    assert (await check.verify(assertion)).email == EMAIL
