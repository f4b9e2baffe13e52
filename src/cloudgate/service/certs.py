"""Google's token-signing public keys, fetched from a certs URL and cached the way Google asks.

Accepted formats (the same ones google-auth accepts, see ``shared/CLOUD_RUN.md``):

- ``{kid: "-----BEGIN CERTIFICATE-----..."}``  Google's ``oauth2/v1/certs``
- ``{kid: "-----BEGIN PUBLIC KEY-----..."}``
- ``{"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]}``  JWKS, Google's ``oauth2/v3/certs``

``PublicKeys`` keeps RSA keys (ID tokens); ``KeySet(url, parse=parse_es256_key_set, ...)`` keeps P-256 keys from
the same formats (IAP's ``public_key`` as ``{kid: PEM}`` and ``public_key-jwk`` as JWKS), with the same caching.

The key set is kept for ``Cache-Control: max-age`` seconds (5 minutes without one). Concurrent requests that
need a fetch share one request (single flight). A ``kid`` missing from a fresh set triggers a refetch at most
once per ``refetch_cooldown`` seconds, so a flood of made-up key ids cannot turn into a flood of fetches. A failed
fetch never replaces good keys: the previous set, if any, stays in use and the fetch is retried after the cooldown.
With no keys at all, requests get ``UnavailableError`` (503, not the caller's fault) without a fetch each, until
a retry a few seconds later. While the last fetch failed, a ``kid`` missing from the kept set is a 503 too, not a
401: it may be a key Google started signing with after the set was fetched, and a caller with a valid token must
be told to retry, not that its token is bad (it is still never accepted).

Example::

    client = httpx.AsyncClient()
    keys = PublicKeys("https://www.googleapis.com/oauth2/v1/certs", http=lambda: client, refetch_cooldown=30)
    public_key = await keys.get(kid)      # raises InvalidCredentialsError (unknown kid, fetch failure)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar

from cloudgate.errors import InvalidCredentialsError, UnavailableError

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

K = TypeVar("K")

logger = logging.getLogger(__name__)

#: With no keys at all, how long a failed fetch is trusted before the next try (capped by the cooldown).
_FAILED_RETRY_S = 5.0

#: How long a key set is kept when the response has no ``max-age``.
DEFAULT_MAX_AGE_S = 300.0
#: A ceiling on ``max-age``: Google sends about six hours; a day is the most we ever trust a key set.
MAX_MAX_AGE_S = 86_400.0
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s=])", re.IGNORECASE)


class PublicKeysUnavailableError(Exception):
    """The certs URL could not be fetched or gave nothing usable. Internal: the last good key set is kept; with
    none, a request gets ``UnavailableError`` (503 with ``Retry-After``: not the caller's fault), never a 401."""


def cache_seconds(cache_control: str | None) -> float:
    """Seconds to keep a response with this ``Cache-Control`` header (``no-store``/``no-cache``: 0)."""
    if not cache_control:
        return DEFAULT_MAX_AGE_S
    if _NO_STORE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_MAX_AGE_S
    return min(float(match.group(1)), MAX_MAX_AGE_S)


def _load_pem(pem: str) -> object:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    data = pem.encode("ascii")
    try:
        return (
            x509.load_pem_x509_certificate(data).public_key()
            if b"-----BEGIN CERTIFICATE-----" in data
            else serialization.load_pem_public_key(data)
        )
    except UnsupportedAlgorithm as exc:
        raise ValueError("unsupported key algorithm") from exc


def _load_jwk(jwk: Mapping[str, Any], kty: str) -> object:
    if jwk.get("kty") != kty or jwk.get("use", "sig") != "sig":
        return None
    from jwt import PyJWTError
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    try:
        return (RSAAlgorithm if kty == "RSA" else ECAlgorithm).from_jwk(dict(jwk))
    except PyJWTError as exc:
        raise ValueError("invalid JWK") from exc


def _parse_key_set(document: object, kty: str, accept: Callable[[object], TypeGuard[K]], kind: str) -> dict[str, K]:
    """``{kid: key}`` of the keys in ``document`` that ``accept`` takes; unusable entries are skipped."""
    if not isinstance(document, dict):
        raise PublicKeysUnavailableError("the certs document is not a JSON object")
    entries: list[tuple[str, Callable[[], object]]] = []
    jwks = document.get("keys")
    if isinstance(jwks, list):
        for jwk in jwks:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                entries.append((jwk["kid"], functools.partial(_load_jwk, jwk, kty)))
    else:
        for kid, pem in document.items():
            if isinstance(pem, str):
                entries.append((kid, functools.partial(_load_pem, pem)))
    keys: dict[str, K] = {}
    for kid, load in entries:
        try:
            key = load()
        except (ValueError, TypeError, KeyError, UnicodeError) as exc:
            logger.warning("skipping signing key %r: %s", kid, type(exc).__name__)
            continue
        if not accept(key):
            logger.warning("skipping signing key %r: not an %s signing key", kid, kind)
            continue
        keys[kid] = key
    if not keys:
        raise PublicKeysUnavailableError(f"the certs document holds no usable {kind} key")
    return keys


def _is_rsa(key: object) -> TypeGuard[RSAPublicKey]:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    return isinstance(key, RSAPublicKey)


def _is_p256(key: object) -> TypeGuard[EllipticCurvePublicKey]:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey

    return isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1)


def parse_key_set(document: object) -> dict[str, RSAPublicKey]:
    """Turn a certs document (any accepted format) into ``{kid: RSA public key}``; unusable entries are skipped."""
    return _parse_key_set(document, "RSA", _is_rsa, "RSA")


def parse_es256_key_set(document: object) -> dict[str, EllipticCurvePublicKey]:
    """``{kid: P-256 public key}`` from a JWKS or a ``{kid: PEM}`` document (IAP's two formats, ES256 keys)."""
    return _parse_key_set(document, "EC", _is_p256, "EC P-256")


class KeySet(Generic[K]):
    """The current key set of one certs URL: cached, fetched once for many callers, refetched on unknown kids.

    ``parse`` turns the fetched document into ``{kid: key}`` (``parse_key_set``, ``parse_es256_key_set``);
    ``purpose`` names what the keys verify, in the 503 a caller gets when they cannot be fetched.
    """

    def __init__(
        self,
        url: str,
        *,
        parse: Callable[[object], dict[str, K]],
        http: Callable[[], httpx.AsyncClient],
        refetch_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        purpose: str = "ID tokens",
    ) -> None:
        self._url = url
        self._parse = parse
        self._purpose = purpose
        self._http = http
        self._cooldown = refetch_cooldown
        self._clock = clock
        self._keys: dict[str, K] = {}
        self._fresh_until = float("-inf")
        self._last_attempt = float("-inf")
        #: With no keys yet, a failed fetch is not retried before this (an outage must not cost a fetch a request).
        self._failed_until = float("-inf")
        self._inflight: asyncio.Future[None] | None = None
        #: Whether the last fetch failed (a kid missing from the kept set cannot be called unknown then).
        self._last_failed = False
        #: How many fetches were started (for tests and metrics).
        self.fetches = 0

    async def get(self, kid: str) -> K:
        """The public key for ``kid``, fetching or refetching the set as needed.

        Raises ``InvalidCredentialsError`` for an unknown key id, ``UnavailableError`` when there are no keys and
        they cannot be fetched.
        """
        now = self._clock()
        if not self._keys and now < self._failed_until:
            raise _unavailable(self._failed_until - now, self._purpose)
        key = self._keys.get(kid)
        if now < self._fresh_until:
            if key is not None:
                return key
            if now - self._last_attempt < self._cooldown:
                raise self._missing(now)
        await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise self._missing(self._clock())
        return key

    def _missing(self, now: float) -> Exception:
        """The refusal for a kid not in the set: 401 when the set is current, 503 when it could not be refreshed."""
        if self._last_failed:
            return _unavailable(self._last_attempt + self._cooldown - now, self._purpose)
        return _unknown_kid()

    async def _refresh(self) -> None:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._fetch_done)
        # shield: one caller giving up (client disconnect) must not cancel the fetch the others wait for.
        await asyncio.shield(self._inflight)

    def _fetch_done(self, future: asyncio.Future[None]) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()  # retrieved here so asyncio never reports it as unhandled

    async def _fetch(self) -> None:
        import httpx

        self.fetches += 1
        self._last_attempt = self._clock()
        try:
            response = await self._http().get(self._url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise PublicKeysUnavailableError(f"HTTP {response.status_code}")
            keys = self._parse(response.json())
        except (httpx.HTTPError, ValueError, PublicKeysUnavailableError) as exc:
            # Pauses count from the failure, not from the attempt: a fetch that hangs until its timeout must not
            # leave the pause already spent, or a stalled endpoint would cost every request a whole timeout.
            self._last_failed, self._last_attempt = True, self._clock()
            detail = str(exc) or type(exc).__name__
            if self._keys:
                # Keep the old keys (they were good an hour ago, Google overlaps rotations) and retry later.
                self._fresh_until = self._last_attempt + self._cooldown
                logger.warning(
                    "could not refresh signing keys from %s (%s); keeping the previous set", self._url, detail
                )
                return
            logger.error("could not fetch signing keys from %s: %s", self._url, detail)
            self._failed_until = self._last_attempt + min(self._cooldown, _FAILED_RETRY_S)
            raise _unavailable(self._failed_until - self._last_attempt, self._purpose) from exc
        self._keys, self._last_failed = keys, False
        self._fresh_until = self._last_attempt + cache_seconds(response.headers.get("cache-control"))
        logger.info("fetched %d signing keys from %s", len(keys), self._url)


class PublicKeys(KeySet["RSAPublicKey"]):
    """Google's ID-token signing keys (RSA), from ``oauth2/v1/certs`` or ``oauth2/v3/certs``."""

    def __init__(
        self,
        url: str,
        *,
        http: Callable[[], httpx.AsyncClient],
        refetch_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(url, parse=parse_key_set, http=http, refetch_cooldown=refetch_cooldown, clock=clock)


def _unavailable(retry_after: float, purpose: str) -> UnavailableError:
    return UnavailableError(
        f"the service cannot verify {purpose} right now: its signing keys could not be fetched",
        retry_after=max(1, math.ceil(retry_after)),
    )


def _unknown_kid() -> InvalidCredentialsError:
    return InvalidCredentialsError("ID token is signed with an unknown key id", scheme="Bearer")
