"""The caller's Google identity, read from the ID token of a request.

Two modes (``CLOUDGATE_IDENTITY``, see ``shared/CLOUD_RUN.md``):

- ``cloud-run``: the service sits behind Cloud Run's IAM check, which verified the token and forwarded it with
  its signature replaced by ``SIGNATURE_REMOVED_BY_GOOGLE``. The claims are trusted as far as who signed them;
  ``aud`` (if audiences are configured) is still checked. A token that still carries a signature did not come
  through that front end and is refused.
- ``verify``: full RS256 verification with PyJWT against the keys at ``CLOUDGATE_CERTS_URL``: algorithm pinned to
  RS256, ``aud`` one of the configured audiences.

In both modes the claims must match Google's ID-token profile exactly (``id_token_profile``: integer times in
range, not issued in the future, at most an hour long, one string ``aud``, boolean ``email_verified``, Google's
``iss``), with ``CLOUDGATE_CLOCK_SKEW_SECONDS`` allowed on each time.

Tokens that passed are remembered until they expire, keyed by their SHA-256 digest (never the raw token), so a
repeat costs one hash and one dict lookup.

Example::

    checker = IdentityChecker(settings)
    identity = await checker.check(bearer_token(request.headers["authorization"]))
    identity.email, identity.audience
    await checker.aclose()
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudgate import env_vars
from cloudgate.errors import ConfigError, InvalidCredentialsError
from cloudgate.google import ID_TOKEN_ISSUERS, SIGNATURE_REMOVED
from cloudgate.service.certs import PublicKeys
from cloudgate.service.credentials import bearer_token as bearer_token  # re-exported: one parser for both
from cloudgate.service.id_token_profile import check_profile
from cloudgate.service.jwt_claims import UnverifiedJwt, parse_jwt
from cloudgate.service.settings import IdentityMode, ServiceSettings

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

logger = logging.getLogger(__name__)

#: How many verified tokens are remembered at most.
TOKEN_CACHE_SIZE = 10_000
#: Seconds allowed for one certs fetch (connect, read, write and pool each).
_CERTS_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class GoogleIdentity:
    """Who the ID token says the caller is."""

    email: str | None
    subject: str
    audience: str
    expires_at: int


def _refuse(message: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(message, scheme="Bearer")


class TokenCache:
    """Tokens that passed, by SHA-256 digest, until ``exp`` (plus skew). Bounded: the oldest entry goes first."""

    def __init__(self, *, max_entries: int, skew: float, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[bytes, GoogleIdentity] = {}
        self._max = max_entries
        self._skew = skew
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> GoogleIdentity | None:
        identity = self._entries.get(digest)
        if identity is not None and self._clock() >= identity.expires_at + self._skew:
            del self._entries[digest]
            return None
        return identity

    def put(self, digest: bytes, identity: GoogleIdentity) -> None:
        if digest not in self._entries and len(self._entries) >= self._max:
            # Dicts keep insertion order: the first entry is the oldest, and with one-hour tokens the soonest to expire.
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = identity


class IdentityChecker:
    """Checks ID tokens per the configured mode; one instance per app, shared by all requests."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._mode = settings.identity
        self._clock = clock
        self._audiences = tuple(settings.audiences)
        self._skew = settings.clock_skew_seconds
        if self._mode is IdentityMode.VERIFY:
            if not self._audiences:
                raise ConfigError(
                    f"{env_vars.IDENTITY}=verify needs {env_vars.AUDIENCES}: the service URL and any custom audiences"
                )
            if not settings.certs_url.startswith(("https://", "http://")):
                raise ConfigError(f"{env_vars.CERTS_URL} must be an http(s) URL")
        self._http = http
        self._owns_http = http is None
        self._keys = PublicKeys(
            settings.certs_url, http=self._client, refetch_cooldown=settings.certs_refetch_cooldown_seconds
        )
        self._cache = TokenCache(max_entries=TOKEN_CACHE_SIZE, skew=self._skew, clock=clock)

    def _client(self) -> httpx.AsyncClient:
        # Created (and httpx imported) on first fetch: cloud-run mode never needs either, and cold start counts.
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=_CERTS_TIMEOUT_S)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client if this checker created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def check(self, token: str) -> GoogleIdentity:
        """The identity in ``token``; raises ``InvalidCredentialsError`` saying what was wrong (never the token)."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        identity = self._cache.get(digest)
        if identity is not None:
            return identity
        try:
            if self._mode is IdentityMode.CLOUD_RUN:
                identity = self._check_forwarded(parse_jwt(token))
            elif self._mode is IdentityMode.VERIFY:
                identity = await self._verify(token, parse_jwt(token))
            else:
                raise _refuse(f"Google identity is turned off on this service ({env_vars.IDENTITY}=off)")
        except InvalidCredentialsError as exc:
            logger.debug("ID token refused: %s", exc)
            raise
        self._cache.put(digest, identity)
        return identity

    def _check_forwarded(self, parsed: UnverifiedJwt) -> GoogleIdentity:
        if parsed.signature != SIGNATURE_REMOVED:
            raise _refuse(
                "ID token was not forwarded by Cloud Run's IAM check (its signature is intact); "
                f"to verify signed tokens in the service, use {env_vars.IDENTITY}=verify"
            )
        claims = parsed.claims
        exp = check_profile(claims, now=self._clock(), skew=self._skew)
        audience: str = claims["aud"]  # one string: check_profile saw to it
        if self._audiences:
            # Otherwise Cloud Run already checked it against the service URL and custom audiences.
            audience = self._matching_audience([audience])
        return _identity(claims, audience, exp)

    async def _verify(self, token: str, parsed: UnverifiedJwt) -> GoogleIdentity:
        import jwt as pyjwt

        if parsed.signature == SIGNATURE_REMOVED:
            raise _refuse(
                "ID token has no signature (Cloud Run removed it); it can only be trusted behind Cloud Run's IAM "
                f"check, with {env_vars.IDENTITY}=cloud-run"
            )
        alg = parsed.header.get("alg")
        if alg != "RS256":
            raise _refuse(f"ID token algorithm {str(alg)[:20]!r} is not accepted (only RS256)")
        kid = parsed.header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refuse("malformed ID token: no key id (kid) in the header")
        key: RSAPublicKey = await self._keys.get(kid)
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audiences,
                issuer=ID_TOKEN_ISSUERS,
                # Times are check_profile's, against this checker's clock (PyJWT would read the wall clock).
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except pyjwt.PyJWTError as exc:
            raise _refuse(_describe(exc)) from None
        exp = check_profile(claims, now=self._clock(), skew=self._skew)
        return _identity(claims, self._matching_audience([claims["aud"]]), exp)

    def _matching_audience(self, audiences: list[str]) -> str:
        for audience in audiences:
            if audience in self._audiences:
                return audience
        shown = audiences[0][:200] if audiences else ""
        raise _refuse(f"ID token has the wrong audience ({shown!r}); this service accepts its URL and custom audiences")


def _identity(claims: dict[str, Any], audience: str, expires_at: int) -> GoogleIdentity:
    # check_profile has seen to the types: sub a non-empty string, email a verified string or absent.
    return GoogleIdentity(email=claims.get("email"), subject=claims["sub"], audience=audience, expires_at=expires_at)


def _describe(exc: Exception) -> str:
    """A message for a PyJWT error that says what was wrong, in our words (PyJWT's never hold the token)."""
    import jwt as pyjwt

    if isinstance(exc, pyjwt.ExpiredSignatureError):
        return "ID token has expired"
    if isinstance(exc, pyjwt.ImmatureSignatureError):
        return "ID token is not valid yet (issued in the future; check the clocks)"
    if isinstance(exc, pyjwt.InvalidAudienceError):
        return "ID token has the wrong audience; this service accepts its URL and custom audiences"
    if isinstance(exc, pyjwt.InvalidIssuerError):
        return "ID token was not issued by Google (wrong iss)"
    if isinstance(exc, pyjwt.MissingRequiredClaimError):
        return f"malformed ID token: no {exc.claim} claim"
    if isinstance(exc, pyjwt.InvalidSignatureError):
        return "ID token has a bad signature"
    if isinstance(exc, pyjwt.InvalidAlgorithmError):
        return "ID token algorithm is not accepted (only RS256)"
    return f"malformed ID token ({type(exc).__name__})"
