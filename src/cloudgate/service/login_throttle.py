"""The docs login throttle: password checks per client in a moving window, in memory or in Redis.

``CLOUDGATE_THROTTLE_STORAGE`` takes a storage URI of the ``limits`` library:

- ``memory://`` (the default): one budget per process. Right for one instance; with N instances behind Cloud Run
  an attacker gets N budgets.
- ``redis://host:port[/db]``, ``rediss://...`` (TLS) or ``redis+unix:///path``: one budget shared by every instance
  (Memorystore in production). Needs the ``redis`` package (``pip install 'cloudgate[redis]'``).

Every login that reaches the password hash takes one unit *before* hashing, in one atomic step (``hit`` is a Lua
script in Redis): parallel guesses sent to many instances at once cannot outrun the budget. A verified credential
is remembered by the guard, so a legitimate user spends one unit per cache period, not one per page.

Redis unreachable: every docs request gets ``UnavailableError`` (503 with ``Retry-After``): the login fails
closed, since without the shared count there is no bound on guesses. Nothing else in the service touches Redis.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.errors import ConfigurationError, StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from cloudgate.errors import ConfigError, UnavailableError

logger = logging.getLogger(__name__)

_REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
_NAMESPACE = "cloudgate-docs-login"
_KEY_PREFIX = "cloudgate"
# A dead Redis must cost a request about a second, not redis-py's default retries with back-off.
_REDIS_TIMEOUT_S = 1.0
_RETRY_AFTER_S = 5


def check_storage_url(url: str) -> str:
    """The URL if it is one this throttle understands; else ``ConfigError`` naming the accepted forms."""
    if url == "memory://" or url.startswith(_REDIS_SCHEMES):
        return url
    raise ConfigError(
        f"unknown throttle storage {url.split('://')[0]!r}: use memory:// or redis://host:port[/db] "
        "(rediss:// for TLS, redis+unix:///path)"
    )


class LoginThrottle:
    """``amount`` password checks per client per ``window_seconds``, counted in the storage at ``url``."""

    def __init__(self, url: str, amount: int, window_seconds: int) -> None:
        self.url = check_storage_url(url)
        self._item = RateLimitItemPerSecond(amount, window_seconds, namespace=_NAMESPACE)
        self._sync: MovingWindowRateLimiter | None = None
        self._async: Any = None  # limits.aio.strategies.MovingWindowRateLimiter, imported only for Redis
        self._storage: Any = None
        if url == "memory://":
            self._sync = MovingWindowRateLimiter(MemoryStorage())
        else:
            self._async = self._redis_limiter(url)

    @property
    def shared(self) -> bool:
        """True when the count lives outside this process (every instance sees the same budget)."""
        return self._sync is None

    def _redis_limiter(self, url: str) -> Any:
        try:
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter as AsyncLimiter
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._storage = RedisStorage(
                url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=_KEY_PREFIX,
                socket_timeout=_REDIS_TIMEOUT_S,
                socket_connect_timeout=_REDIS_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]  # passed through to redis.asyncio.Redis
            )
        except (ImportError, ConfigurationError) as exc:
            raise ConfigError(
                "CLOUDGATE_THROTTLE_STORAGE=redis://... needs the redis package: pip install 'cloudgate[redis]'"
            ) from exc
        except ValueError as exc:  # redis-py's URL parser
            raise ConfigError(f"CLOUDGATE_THROTTLE_STORAGE is not a valid Redis URL: {exc}") from exc
        return AsyncLimiter(self._storage)

    async def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it has budget left. Costs nothing."""
        try:
            if self._sync is not None:
                allowed = self._sync.test(self._item, client)
                reset_at = None if allowed else self._sync.get_window_stats(self._item, client).reset_time
            else:
                allowed = await self._async.test(self._item, client)
                reset_at = None if allowed else (await self._async.get_window_stats(self._item, client)).reset_time
        except StorageError as exc:
            raise _unavailable(exc) from exc
        return None if reset_at is None else max(1, math.ceil(reset_at - time.time()))

    async def take(self, client: str) -> int | None:
        """Spend one unit for ``client``: None if it had one left, else the seconds until it may try again."""
        try:
            if self._sync is not None:
                taken = self._sync.hit(self._item, client)
            else:
                taken = await self._async.hit(self._item, client)
        except StorageError as exc:
            raise _unavailable(exc) from exc
        if taken:
            return None
        return await self.retry_after(client) or 1

    async def aclose(self) -> None:
        """Close the Redis connections (nothing to do in memory)."""
        bridge = getattr(self._storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:
            await client.aclose()


def _unavailable(exc: Exception) -> UnavailableError:
    # The cause names the Redis host: for the log, not for the caller.
    logger.error("docs login throttle storage unavailable: %s", exc)
    return UnavailableError("the docs login is unavailable right now", retry_after=_RETRY_AFTER_S)
