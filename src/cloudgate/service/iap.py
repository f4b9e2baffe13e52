"""Identity-Aware Proxy's signed header: who signed in, verified from ``X-Goog-IAP-JWT-Assertion``.

IAP (on a Cloud Run service, or on a load balancer's backend service) signs in the person, checks
``roles/iap.httpsResourceAccessor``, and calls the service with a JWT in ``X-Goog-IAP-JWT-Assertion``. Google's
profile of that JWT (https://cloud.google.com/iap/docs/signed-headers-howto, recorded in ``docs/identity.md``) is
checked claim by claim, and nothing less is accepted:

- header: ``alg`` exactly ``ES256`` (``none``, ``HS256``, ``RS256`` and the rest are refused before any key is
  fetched); ``kid`` one of IAP's keys (``CLOUDGATE_IAP_JWKS_URL``, cached like Google's ID-token keys:
  ``cloudgate.service.certs``); the signature valid for that P-256 key;
- payload: ``iss`` exactly ``https://cloud.google.com/iap``; ``aud`` one string equal to ``CLOUDGATE_IAP_AUDIENCE``;
  ``iat`` and ``exp`` integer seconds, ``iat`` not in the future and ``exp`` not past, each within
  ``CLOUDGATE_CLOCK_SKEW_SECONDS`` (the policy ID tokens follow), ``exp - iat`` at most Google's "10 minutes + 2 *
  skew"; ``sub`` and ``email`` non-empty strings; ``hd`` a string when present; ``google.access_levels`` a list of
  strings when present.

The unsigned ``X-Goog-Authenticated-User-Email``/``-Id`` headers are never read: a request that bypasses IAP can
carry any of them, so without a valid assertion the request has no IAP identity, whatever they say.

Assertions that passed are remembered until their ``exp`` plus the skew, keyed by their SHA-256 digest (never the
assertion itself), at most ``ASSERTION_CACHE_SIZE`` of them, the oldest going first: a page and its assets, sent
with the same assertion, cost one signature check. A refusal is never remembered.

Example::

    verifier = IapVerifier(settings)                  # ConfigError without CLOUDGATE_IAP_AUDIENCE
    user = await verifier.identify(request.headers)   # IapIdentity(email=..., subject=...) or an AuthError
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudgate import codes, env_vars
from cloudgate.errors import ConfigError, InvalidCredentialsError, MissingCredentialsError
from cloudgate.google import IAP_ALGORITHM, IAP_ASSERTION_HEADER, IAP_ASSERTION_MAX_LIFETIME_S, IAP_ISSUER
from cloudgate.service.certs import KeySet, parse_es256_key_set
from cloudgate.service.jwt_claims import parse_jwt

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from starlette.datastructures import Headers

    from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

_KEYS_TIMEOUT_S = 10.0
#: How many verified assertions are remembered at most.
ASSERTION_CACHE_SIZE = 10_000
#: Unix times outside 2000-01-01 .. 2100-01-01 are not an IAP assertion's (the same bounds as ID tokens).
_EARLIEST = 946_684_800
_LATEST = 4_102_444_800


@dataclass(frozen=True, slots=True)
class IapIdentity:
    """The person IAP signed in, from a verified assertion.

    ``subject`` is ``sub`` (``accounts.google.com:NUMERIC_ID`` for a Google account: stable, unlike the email),
    ``hosted_domain`` the account's Workspace domain (``hd``), ``access_levels`` the access levels it satisfied.
    """

    email: str
    subject: str
    audience: str
    expires_at: int
    hosted_domain: str | None = None
    access_levels: tuple[str, ...] = ()


def _refuse(message: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(message, reason=codes.IAP_ASSERTION_INVALID)


class IapVerifier:
    """Verifies IAP assertions for one audience; one instance per app, shared by all requests."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        keys_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audience = settings.iap_audience.strip()
        if not self._audience:
            raise ConfigError(
                f"IAP assertions need {env_vars.IAP_AUDIENCE}: IAP's Signed Header JWT Audience for this service"
            )
        if not settings.iap_jwks_url.startswith(("https://", "http://")):
            raise ConfigError(f"{env_vars.IAP_JWKS_URL} must be an http(s) URL")
        self._clock = clock
        self._skew = settings.clock_skew_seconds
        self._http = http
        self._owns_http = http is None
        self._keys: KeySet[EllipticCurvePublicKey] = KeySet(
            settings.iap_jwks_url,
            parse=parse_es256_key_set,
            http=self._client,
            refetch_cooldown=settings.certs_refetch_cooldown_seconds,
            clock=keys_clock,
            purpose="IAP assertions",
        )
        self._passed: dict[bytes, IapIdentity] = {}

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=_KEYS_TIMEOUT_S)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def identify(self, headers: Headers) -> IapIdentity:
        """The IAP identity of a request; ``MissingCredentialsError`` without exactly one assertion header.

        The unsigned ``X-Goog-Authenticated-User-*`` headers count for nothing, present or not.
        """
        return await self.identify_values(headers.getlist(IAP_ASSERTION_HEADER))

    async def identify_values(self, values: list[str]) -> IapIdentity:
        """The same, from every value of the assertion header as sent (what the ASGI layer collected)."""
        if not values:
            raise MissingCredentialsError(
                f"no IAP assertion ({IAP_ASSERTION_HEADER}); X-Goog-Authenticated-User-* headers alone are not trusted",
                reason=codes.IAP_ASSERTION_MISSING,
            )
        if len(values) > 1:
            raise _refuse(f"{IAP_ASSERTION_HEADER} was sent more than once")
        return await self.verify(values[0].strip())

    async def verify(self, assertion: str) -> IapIdentity:
        """Verify ``assertion`` fully; raise ``InvalidCredentialsError`` saying what was wrong (never the token).

        One that passed before and has not expired (``exp`` plus the skew) costs one hash and one dict lookup.
        """
        digest = hashlib.sha256(assertion.encode("utf-8", "surrogatepass")).digest()
        known = self._passed.get(digest)
        if known is not None:
            if self._clock() < known.expires_at + self._skew:
                return known
            del self._passed[digest]
        try:
            identity = await self._verify(assertion)
        except InvalidCredentialsError as exc:
            logger.debug("IAP assertion refused: %s", exc)
            raise
        if len(self._passed) >= ASSERTION_CACHE_SIZE:
            del self._passed[next(iter(self._passed))]  # dicts keep insertion order: the oldest goes first
        self._passed[digest] = identity
        return identity

    async def _verify(self, assertion: str) -> IapIdentity:
        import jwt as pyjwt

        try:
            parsed = parse_jwt(assertion)
        except InvalidCredentialsError as exc:
            raise _refuse(str(exc).replace("ID token", "IAP assertion")) from None
        alg = parsed.header.get("alg")
        if alg != IAP_ALGORITHM:
            raise _refuse(f"IAP assertion algorithm {str(alg)[:20]!r} is not accepted (only {IAP_ALGORITHM})")
        kid = parsed.header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refuse("malformed IAP assertion: no key id (kid) in the header")
        try:
            key = await self._keys.get(kid)
        except InvalidCredentialsError:
            raise _refuse("IAP assertion is signed with a key that is not one of IAP's") from None
        try:
            claims: dict[str, Any] = pyjwt.decode(
                assertion,
                key,
                algorithms=[IAP_ALGORITHM],
                audience=self._audience,
                issuer=IAP_ISSUER,
                # Times are checked below against this verifier's clock (PyJWT would read the wall clock).
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub", "email"],
                    "strict_aud": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except pyjwt.PyJWTError as exc:
            raise _refuse(_describe(exc)) from None
        exp = self._check_times(claims)
        return _identity(claims, self._audience, exp)

    def _check_times(self, claims: dict[str, Any]) -> int:
        now, skew = self._clock(), self._skew
        iat, exp = _time(claims, "iat"), _time(claims, "exp")
        if iat > now + skew:
            raise _refuse("IAP assertion is not valid yet (issued in the future; check the clocks)")
        if now >= exp + skew:
            raise _refuse("IAP assertion has expired")
        if not 0 < exp - iat <= IAP_ASSERTION_MAX_LIFETIME_S + 2 * skew:
            raise _refuse(f"IAP assertion lifetime is not what IAP issues (at most {IAP_ASSERTION_MAX_LIFETIME_S} s)")
        return exp


def _time(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(f"malformed IAP assertion: {name} must be an integer number of seconds")
    if not _EARLIEST <= value <= _LATEST:
        raise _refuse(f"malformed IAP assertion: {name} is not a plausible time")
    return value


def _identity(claims: dict[str, Any], audience: str, expires_at: int) -> IapIdentity:
    email, sub, hd = claims.get("email"), claims.get("sub"), claims.get("hd")
    if not isinstance(email, str) or not email:
        raise _refuse("malformed IAP assertion: email must be a non-empty string")
    if not isinstance(sub, str) or not sub:
        raise _refuse("malformed IAP assertion: sub must be a non-empty string")
    if hd is not None and not isinstance(hd, str):
        raise _refuse("malformed IAP assertion: hd must be a string")
    google = claims.get("google", {})
    levels = google.get("access_levels", []) if isinstance(google, dict) else None
    if not isinstance(levels, list) or not all(isinstance(level, str) for level in levels):
        raise _refuse("malformed IAP assertion: google.access_levels must be a list of strings")
    return IapIdentity(
        email=email,
        subject=sub,
        audience=audience,
        expires_at=expires_at,
        hosted_domain=hd,
        access_levels=tuple(levels),
    )


def _describe(exc: Exception) -> str:
    import jwt as pyjwt
    from jwt.exceptions import InvalidSubjectError

    if isinstance(exc, pyjwt.InvalidAudienceError):
        return f"IAP assertion has the wrong audience; this service accepts {env_vars.IAP_AUDIENCE} only"
    if isinstance(exc, pyjwt.InvalidIssuerError):
        return f"IAP assertion was not issued by IAP (iss must be {IAP_ISSUER})"
    if isinstance(exc, InvalidSubjectError):
        return "malformed IAP assertion: sub must be a non-empty string"
    if isinstance(exc, pyjwt.MissingRequiredClaimError):
        return f"malformed IAP assertion: no {exc.claim} claim"
    if isinstance(exc, pyjwt.InvalidSignatureError):
        return "IAP assertion has a bad signature"
    if isinstance(exc, pyjwt.InvalidAlgorithmError):
        return f"IAP assertion algorithm is not accepted (only {IAP_ALGORITHM})"
    return "malformed IAP assertion"
