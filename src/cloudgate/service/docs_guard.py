"""The check in front of the API docs: HTTP Basic, an Identity-Aware Proxy sign-in, or either; one async FastAPI
dependency per app.

``CLOUDGATE_DOCS_AUTH`` chooses: ``basic`` (the default, below), ``iap`` or ``both``. Through IAP, the person is
read from the verified ``X-Goog-IAP-JWT-Assertion`` alone (``cloudgate.service.iap``; the unsigned
``X-Goog-Authenticated-User-*`` headers never count) and must be one of ``CLOUDGATE_DOCS_IAP_USERS``. With ``iap``
a request without an assertion is a 401 (``iap_assertion_missing``) and a signed-in person not listed a 403
(``principal_not_allowed``); with ``both`` either of those falls through to the Basic check, so a docs user's
password still works. A forged, expired or foreign assertion is a 401 (``iap_assertion_invalid``) in both modes:
IAP never sends one. No password is checked on the IAP path, so it spends nothing of the login throttle.

What it costs and what it refuses:

- The ``Authorization: Basic ...`` header is parsed strictly: bad base64, no colon or bytes that are not UTF-8
  are a 401, never a 500. Another scheme (e.g. a ``Bearer`` ID token) counts as no credentials.
- A wrong password and an unknown user cost the same: one argon2 verification each (unknown users are checked
  against a dummy hash of the same cost), and names are compared in constant time.
- A verified credential is remembered for ``docs_cache_seconds`` under an HMAC (per-process random key) of
  ``user:password``, so the page and its assets cost one argon2 verification, not five.
- The users come from ``DocsUsers``, which re-reads ``CLOUDGATE_DOCS_USERS_FILE`` when it changes; a change
  forgets every remembered credential, so a rotated-out password stops working at once.
- Argon2 runs in worker threads, a few at a time, so it never blocks the event loop.
- Each password check (a malformed header counts as one) spends a unit of the client's budget
  (``client_ip``) before any hashing: ``docs_max_failures`` per ``docs_failure_window_seconds``, then 429 with
  ``Retry-After``. The budget lives in ``CLOUDGATE_THROTTLE_STORAGE`` (``login_throttle``): per process in memory,
  or in Redis, shared by every instance. Redis down: 503 with ``Retry-After`` (fails closed).

Example::

    guard = DocsGuard(DocsUsers(settings), settings)   # or a plain {name: hash} mapping

    @router.get("/docs")
    async def docs(user: Annotated[str, Depends(guard)]) -> HTMLResponse: ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from cloudgate import codes, env_vars
from cloudgate.errors import (
    AuthError,
    ConfigError,
    ForbiddenError,
    InvalidCredentialsError,
    MissingCredentialsError,
    ThrottledError,
)
from cloudgate.google import IAP_ASSERTION_HEADER
from cloudgate.service import passwords
from cloudgate.service.client_ip import client_ip
from cloudgate.service.docs_users import DocsUsers
from cloudgate.service.errors_http import auth_error_response
from cloudgate.service.login_throttle import LoginThrottle
from cloudgate.service.members import AllowedMembers
from cloudgate.service.settings import DocsAuth, ServiceSettings

if TYPE_CHECKING:
    from cloudgate.service.iap import IapVerifier

logger = logging.getLogger(__name__)

_SCHEME = "Basic"
_MAX_HEADER_CHARS = 4096
_MAX_CONCURRENT_VERIFICATIONS = 2
_MAX_CACHED_CREDENTIALS = 256


def parse_basic(header: str) -> tuple[str, str]:
    """``(user, password)`` from an ``Authorization`` header value.

    Raises:
        MissingCredentialsError: the scheme is not Basic.
        InvalidCredentialsError: the Basic value is empty, too long, not base64, not UTF-8, has no colon
            or an empty user name.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise MissingCredentialsError("the docs need HTTP Basic credentials", scheme=_SCHEME)
    token = token.strip()
    if not token or len(token) > _MAX_HEADER_CHARS:
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME)
    try:
        raw = base64.b64decode(token, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME) from exc
    if base64.b64encode(raw).decode() != token:  # excess padding or stray bits decode too: only one spelling is valid
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME)
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME)
    return user, password


def docs_refusal(exc: AuthError, realm: str) -> Response:
    """The JSON answer to a refused docs request: ``{"error", "detail"}`` plus the right headers."""
    response = auth_error_response(exc, realm, api_key_header="")
    response.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    return response


class DocsGuard:
    """The docs check for one app's docs routes; use the instance itself as the dependency (``Depends(guard)``).

    Calling it returns the verified user name (a docs user's, or the IAP-signed-in person's email) or raises a
    ``MissingCredentialsError``, ``InvalidCredentialsError``, ``ForbiddenError`` or ``ThrottledError``.
    ``iap`` is the app's IAP verifier, needed when ``settings.docs_auth`` is ``iap`` or ``both``.
    """

    def __init__(
        self, users: Mapping[str, str] | DocsUsers, settings: ServiceSettings, *, iap: IapVerifier | None = None
    ) -> None:
        self.realm = settings.docs_realm
        self._users = users if isinstance(users, DocsUsers) else DocsUsers(settings, users=users)
        # ``both`` without a docs user is ``iap``: there is no password to fall back on.
        self.mode = DocsAuth.IAP if settings.docs_auth is DocsAuth.BOTH and not self._users else settings.docs_auth
        self._iap = iap if self.mode.iap else None
        self._iap_users = AllowedMembers(settings.docs_iap_users, setting=env_vars.DOCS_IAP_USERS)
        if self.mode.iap and self._iap is None:
            raise ConfigError(
                f"{env_vars.DOCS_AUTH}={self.mode.value} needs {env_vars.IAP_AUDIENCE}: IAP's audience for this service"
            )
        if self.mode.iap and not self._iap_users:
            raise ConfigError(
                f"{env_vars.DOCS_AUTH}={self.mode.value} needs {env_vars.DOCS_IAP_USERS}: who may open the docs "
                "(emails or domain:DOMAIN)"
            )
        self._users_version = self._users.version
        self._trust_forwarded_for = settings.forwarded_for_trusted()
        self._cache_seconds = settings.docs_cache_seconds
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._cache_key = secrets.token_bytes(32)
        self.throttle = LoginThrottle(
            settings.throttle_storage, settings.docs_max_failures, settings.docs_failure_window_seconds
        )
        self._threads = anyio.CapacityLimiter(_MAX_CONCURRENT_VERIFICATIONS)
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    async def __call__(self, request: Request) -> str:
        if self._iap is not None:
            person = await self._iap_person(request)
            if person is not None:
                return person
        return await self._basic(request)

    async def _iap_person(self, request: Request) -> str | None:
        """The listed person IAP signed in; ``None`` to fall through to Basic (``both``), else a refusal."""
        assert self._iap is not None
        values = request.headers.getlist(IAP_ASSERTION_HEADER)
        if not values and self.mode is DocsAuth.BOTH:
            return None
        person = await self._iap.identify_values(values)  # a missing or bad assertion raises (401)
        if self._iap_users.allows(person.email, hosted_domain=person.hosted_domain):
            return person.email
        if self.mode is DocsAuth.BOTH:
            return None
        logger.info("docs refused for %s: not in %s", person.email, env_vars.DOCS_IAP_USERS)
        raise ForbiddenError(
            f"{person.email} may not open the docs (not in {env_vars.DOCS_IAP_USERS})",
            reason=codes.PRINCIPAL_NOT_ALLOWED,
        )

    async def _basic(self, request: Request) -> str:
        client = client_ip(request.scope, self._trust_forwarded_for)
        self._refuse(client, await self.throttle.retry_after(client))
        header = request.headers.get("authorization")
        if header is None:
            raise MissingCredentialsError("the docs need HTTP Basic credentials", scheme=_SCHEME)
        try:
            user, password = parse_basic(header)
        except InvalidCredentialsError:
            await self.throttle.take(client)
            logger.info("docs login refused for client %s: malformed Basic credentials", client)
            raise
        key = hmac.new(self._cache_key, f"{user}:{password}".encode(), hashlib.sha256).digest()
        self._follow_rotation()
        if self._is_cached(key):
            return user
        # The unit is spent before hashing, atomically: a burst (even one spread over instances) cannot outrun it.
        self._refuse(client, await self.throttle.take(client))
        ok = await anyio.to_thread.run_sync(self._verify, user, password, limiter=self._threads)
        if not ok:
            logger.info("docs login refused for client %s: wrong user name or password", client)
            raise InvalidCredentialsError("wrong user name or password", scheme=_SCHEME)
        self._remember(key, user)
        return user

    def _refuse(self, client: str, retry_after: int | None) -> None:
        if retry_after is None:
            return
        logger.warning("docs login throttled for client %s (retry in %ss)", client, retry_after)
        raise ThrottledError(
            f"too many failed logins; try again in {retry_after} s", retry_after=retry_after, scheme=_SCHEME
        )

    def _follow_rotation(self) -> None:
        """Pick up a new users file; if it changed, forget remembered logins (they may use a rotated-out password)."""
        self._users.current()
        if self._users.version != self._users_version:
            self._users_version = self._users.version
            self._cache.clear()
            with self._dummy_lock:
                self._dummy_hash = None  # the new hashes may have another cost

    def _verify(self, user: str, password: str) -> bool:
        """Runs in a worker thread: exactly one argon2 verification, whoever the user is."""
        wanted = user.encode()
        stored: str | None = None
        for name, hash in self._users.current():  # no early exit: every name is compared
            if hmac.compare_digest(name, wanted):
                stored = hash
        if stored is None:
            passwords.verify_password(password, self._dummy())
            return False
        return passwords.verify_password(password, stored)

    def _dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = passwords.dummy_hash_like(self._users.current()[0][1])
            return self._dummy_hash

    def _is_cached(self, key: bytes) -> bool:
        entry = self._cache.get(key)
        if entry is None:
            return False
        if entry[1] <= time.monotonic():
            del self._cache[key]
            return False
        return True

    def _remember(self, key: bytes, user: str) -> None:
        if self._cache_seconds <= 0:
            return
        now = time.monotonic()
        if len(self._cache) >= _MAX_CACHED_CREDENTIALS:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            while len(self._cache) >= _MAX_CACHED_CREDENTIALS:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (user, now + self._cache_seconds)
