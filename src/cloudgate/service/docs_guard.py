"""The HTTP Basic check in front of the API docs: one async FastAPI dependency per app.

What it costs and what it refuses:

- The ``Authorization: Basic ...`` header is parsed strictly: bad base64, no colon or bytes that are not UTF-8
  are a 401, never a 500. Another scheme (e.g. a ``Bearer`` ID token) counts as no credentials.
- A wrong password and an unknown user cost the same: one argon2 verification each (unknown users are checked
  against a dummy hash of the same cost), and names are compared in constant time.
- A verified credential is remembered for ``docs_cache_seconds`` under an HMAC (per-process random key) of
  ``user:password``, so the page and its assets cost one argon2 verification, not five.
- Argon2 runs in worker threads, a few at a time, so it never blocks the event loop.
- After ``docs_max_failures`` failures from one client (``client_ip``) within ``docs_failure_window_seconds``
  the answer is 429 with ``Retry-After``, before any hashing.

Example::

    guard = DocsGuard(load_docs_users(settings), settings)

    @router.get("/docs")
    async def docs(user: Annotated[str, Depends(guard)]) -> HTMLResponse: ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping

import anyio
import anyio.to_thread
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response

from cloudgate.errors import AuthError, InvalidCredentialsError, MissingCredentialsError, ThrottledError
from cloudgate.service import passwords
from cloudgate.service.client_ip import client_ip
from cloudgate.service.errors_http import auth_error_response
from cloudgate.service.settings import ServiceSettings

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
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME) from exc
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise InvalidCredentialsError("malformed Basic credentials", scheme=_SCHEME)
    return user, password


def error_response(exc: AuthError, realm: str) -> Response:
    """The JSON answer to a refused docs request: ``{"error", "detail"}`` plus the right headers."""
    response = auth_error_response(exc, realm, api_key_header="")
    response.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    return response


class DocsGuard:
    """The Basic check for one app's docs routes; use the instance itself as the dependency (``Depends(guard)``).

    Calling it returns the verified user name or raises a ``MissingCredentialsError``,
    ``InvalidCredentialsError`` or ``ThrottledError`` (``scheme="Basic"``).
    """

    def __init__(self, users: Mapping[str, str], settings: ServiceSettings) -> None:
        self.realm = settings.docs_realm
        self._users = [(name.encode(), hash) for name, hash in users.items()]
        self._trust_forwarded_for = settings.trust_forwarded_for
        self._cache_seconds = settings.docs_cache_seconds
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._cache_key = secrets.token_bytes(32)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limit = RateLimitItemPerSecond(settings.docs_max_failures, settings.docs_failure_window_seconds)
        self._in_flight: Counter[str] = Counter()
        self._threads = anyio.CapacityLimiter(_MAX_CONCURRENT_VERIFICATIONS)
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    async def __call__(self, request: Request) -> str:
        client = client_ip(request.scope, self._trust_forwarded_for)
        self._refuse_if_throttled(client, extra=0)
        header = request.headers.get("authorization")
        if header is None:
            raise MissingCredentialsError("the docs need HTTP Basic credentials", scheme=_SCHEME)
        try:
            user, password = parse_basic(header)
        except InvalidCredentialsError:
            self._record_failure(client, "malformed Basic credentials")
            raise
        key = hmac.new(self._cache_key, f"{user}:{password}".encode(), hashlib.sha256).digest()
        if self._is_cached(key):
            return user
        # Attempts still being hashed count against the budget, so a burst cannot outrun the throttle.
        self._refuse_if_throttled(client, extra=self._in_flight[client])
        self._in_flight[client] += 1
        try:
            ok = await anyio.to_thread.run_sync(self._verify, user, password, limiter=self._threads)
        finally:
            self._in_flight[client] -= 1
            if not self._in_flight[client]:
                del self._in_flight[client]
        if not ok:
            self._record_failure(client, "wrong user name or password")
            raise InvalidCredentialsError("wrong user name or password", scheme=_SCHEME)
        self._remember(key, user)
        return user

    def _refuse_if_throttled(self, client: str, *, extra: int) -> None:
        if self._limiter.test(self._limit, client, cost=1 + extra):
            return
        reset_at = self._limiter.get_window_stats(self._limit, client).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        logger.warning("docs login throttled for client %s (retry in %ss)", client, retry_after)
        raise ThrottledError(
            f"too many failed logins; try again in {retry_after} s", retry_after=retry_after, scheme=_SCHEME
        )

    def _record_failure(self, client: str, reason: str) -> None:
        self._limiter.hit(self._limit, client)
        logger.info("docs login refused for client %s: %s", client, reason)

    def _verify(self, user: str, password: str) -> bool:
        """Runs in a worker thread: exactly one argon2 verification, whoever the user is."""
        wanted = user.encode()
        stored: str | None = None
        for name, hash in self._users:  # no early exit: every name is compared
            if hmac.compare_digest(name, wanted):
                stored = hash
        if stored is None:
            passwords.verify_password(password, self._dummy())
            return False
        return passwords.verify_password(password, stored)

    def _dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = passwords.dummy_hash_like(self._users[0][1])
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
