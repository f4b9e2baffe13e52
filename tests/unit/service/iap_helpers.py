"""IAP's side, for the service tests that need it: a P-256 signer per run, its JWK set served over real HTTP, and
assertions of Google's documented shape minted with it (``tests/unit/service/test_iap.py`` checks the profile)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cloudgate.google import IAP_ISSUER
from tests.certs_endpoint import CertsEndpoint

#: The audience of IAP on a Cloud Run service, as ``cloudgate deploy --iap`` sets it.
AUDIENCE = "/projects/123456789012/locations/us-central1/services/svc"
EMAIL = "alice@example.com"


def new_signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """A key as IAP publishes it at ``public_key-jwk``."""
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256", "use": "sig"}


@contextmanager
def iap_keys(*keys: tuple[ec.EllipticCurvePrivateKey, str]) -> Iterator[str]:
    """IAP's JWK set for ``(key, kid)`` pairs on a real local HTTP server; yields its URL."""
    with CertsEndpoint({"keys": [jwk(key, kid) for key, kid in keys]}).served() as url:
        yield url


def mint(key: ec.EllipticCurvePrivateKey, kid: str = "iap1", **overrides: Any) -> str:
    """An assertion as IAP sends it, issued now for ten minutes; an override of ``None`` drops the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": IAP_ISSUER,
        "aud": AUDIENCE,
        "sub": "accounts.google.com:112233445566778899",
        "email": EMAIL,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    payload = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})
