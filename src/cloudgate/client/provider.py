"""The token provider: tries the sources in order, caches one token per audience, refreshes before expiry.

Fetches are single-flight: however many threads or tasks ask at once, one of them fetches and the others
wait for its result. ``fetches`` counts the tokens actually minted, for tests and benchmarks.

Example::

    provider = TokenProvider()                      # the documented chain of sources
    token = provider.get("https://svc-abc-uc.a.run.app").value
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import anyio.lowlevel
import anyio.to_thread

from cloudgate.client.sources import TokenSource, default_sources
from cloudgate.client.tokens import DEFAULT_REFRESH_MARGIN_S, IdToken
from cloudgate.errors import NoTokenSourceError

logger = logging.getLogger(__name__)


class TokenProvider:
    """ID tokens per audience from the first token source that applies, cached until shortly before expiry."""

    def __init__(
        self,
        credentials: Path | str | None = None,
        *,
        impersonate: str | None = None,
        sources: Sequence[TokenSource] | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources: list[TokenSource] = (
            list(sources) if sources is not None else default_sources(credentials, impersonate=impersonate)
        )
        self.refresh_margin = refresh_margin
        #: The wall clock freshness is judged by (tests move their own instead of sleeping).
        self._clock = clock
        #: How many tokens were minted (cache misses that succeeded).
        self.fetches = 0
        self._cache: dict[str, IdToken] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._async_locks: dict[tuple[object, str], anyio.Lock] = {}
        self._first_source = 0

    def get(self, audience: str) -> IdToken:
        """A fresh token for ``audience``, from the cache or minted now (blocking)."""
        token = self._cached(audience)
        if token is not None:
            return token
        with self._lock(audience):
            token = self._cached(audience)
            if token is None:
                token = self._fetch(audience)
            return token

    async def aget(self, audience: str) -> IdToken:
        """A fresh token for ``audience``; minting runs in a worker thread so the event loop keeps going."""
        token = self._cached(audience)
        if token is not None:
            return token
        with self._guard:
            lock = self._async_locks.setdefault((anyio.lowlevel.current_token(), audience), anyio.Lock())
        async with lock:
            token = self._cached(audience)
            if token is not None:
                return token
            return await anyio.to_thread.run_sync(self.get, audience)

    def invalidate(self, audience: str) -> None:
        """Forget the cached token for ``audience`` (after the service refused it)."""
        with self._guard:
            self._cache.pop(audience, None)

    def _cached(self, audience: str) -> IdToken | None:
        token = self._cache.get(audience)
        if token is not None and token.is_fresh(margin=self.refresh_margin, now=self._clock()):
            return token
        return None

    def _lock(self, audience: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(audience, threading.Lock())

    def _fetch(self, audience: str) -> IdToken:
        # Start from the source that worked last time: a refresh need not re-probe the ones before it.
        for index in range(self._first_source, len(self.sources)):
            source = self.sources[index]
            token = source.fetch(audience)
            if token is None:
                logger.debug("token source %s skipped: %s", source.name, source.skip_reason)
                continue
            logger.debug("ID token for %s from %s (expires at %d)", audience, token.source, token.expires_at)
            with self._guard:
                self._cache[audience] = token
                self.fetches += 1
            self._first_source = index
            return token
        self._first_source = 0
        tried = "\n".join(f"  - {source.name}: {source.skip_reason}" for source in self.sources)
        raise NoTokenSourceError(
            f"no credentials found to call {audience}. Tried, in order:\n{tried}\n"
            "Fix one: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS, impersonate a service account "
            "(--impersonate SA after `gcloud auth application-default login`), or `gcloud auth login`."
        )
