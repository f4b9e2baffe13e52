"""When and how long to wait before retrying a request.

Idempotent methods are retried on 429, 502, 503, 504 and on network errors; any method is retried when the
connection could not even be opened (the request was never sent). The wait is exponential backoff with full
jitter (so many clients do not retry in step), or the server's ``Retry-After`` (seconds or an HTTP date),
capped so a misbehaving server cannot stall the caller for long.

Example::

    policy = RetryPolicy(attempts=5)
    policy.wait(attempt=1, response=None)   # somewhere in [0, 0.5) seconds
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The request never left this machine: safe to retry whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NETWORK = (httpx.TransportError,)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` is the total number of tries; waits grow from ``backoff`` up to ``max_backoff`` seconds."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    #: The longest ``Retry-After`` honoured; longer answers are cut to this.
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES

    def should_retry_status(self, method: str, status: int, attempt: int) -> bool:
        """Whether a response with ``status`` to try number ``attempt`` (1-based) is worth another try."""
        return attempt < self.attempts and method.upper() in IDEMPOTENT_METHODS and status in self.statuses

    def should_retry_error(self, method: str, error: Exception, attempt: int) -> bool:
        """Whether a network error on try number ``attempt`` is worth another try."""
        if attempt >= self.attempts:
            return False
        if isinstance(error, _NOT_SENT):
            return True
        return method.upper() in IDEMPOTENT_METHODS and isinstance(error, _NETWORK)

    def wait(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to sleep after try number ``attempt``: ``Retry-After`` if given, else jittered backoff."""
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; ``None`` if absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
