"""The HTTP Basic check in front of the API docs: one async FastAPI dependency per app.

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

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from cloudgate.errors import AuthError, InvalidCredentialsError, MissingCredentialsError, ThrottledError
from cloudgate.service import passwords
from cloudgate.service.client_ip import client_ip
from cloudgate.service.docs_users import DocsUsers
from cloudgate.service.errors_http import auth_error_response
from cloudgate.service.login_throttle import LoginThrottle
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
    """The Basic check for one app's docs routes; use the instance itself as the dependency (``Depends(guard)``).

    Calling it returns the verified user name or raises a ``MissingCredentialsError``,
    ``InvalidCredentialsError`` or ``ThrottledError`` (``scheme="Basic"``).
    """

    def __init__(self, users: Mapping[str, str] | DocsUsers, settings: ServiceSettings) -> None:
        self.realm = settings.docs_realm
        self._users = users if isinstance(users, DocsUsers) else DocsUsers(settings, users=users)
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
