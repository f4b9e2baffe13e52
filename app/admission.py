"""How many exports and uploads one instance runs at once: past the cap, a 429 with ``Retry-After``.

An export holds memory for as long as its client takes to read it (DuckDB's result, a batch being encoded, the
socket's buffer), and an upload holds its body on the local disk, which on Cloud Run is memory too. Eighty clients
(Cloud Run's default concurrency) doing either at once would exhaust a 512 MiB instance, so each kind has a
fixed number of slots per instance. A refused client retries later (or another instance takes it). Uploads queue for a while first: an upload
waiting for its slot has not read its body yet, so it holds nothing but its connection.

Example::

    exports = Slots(8, "exports")
    slot = await exports.acquire()  # RetryLaterError(429) when all 8 are taken
    try:
        ...
    finally:
        slot.release()
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from app.budget import Budget, RetryLaterError, Watchdog
from app.query import QueryCaps
from app.resources import Limits
from app.settings import DataSettings

#: Seconds a refused client is told to wait before trying again.
RETRY_AFTER_S = 2


class Slot:
    """One taken slot; ``release`` gives it back (twice is harmless)."""

    def __init__(self, owner: Slots) -> None:
        self._owner: Slots | None = owner

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._give_back()


class Slots:
    """At most ``limit`` holders at once; ``what`` names them in the refusal. A request waits up to
    ``wait_seconds`` for a slot (0: refused at once); use from the event loop only."""

    def __init__(self, limit: int, what: str, wait_seconds: float = 0.0) -> None:
        self.limit = limit
        self.what = what
        self.wait_seconds = wait_seconds
        self._free: anyio.Semaphore | None = None

    @property
    def taken(self) -> int:
        return 0 if self._free is None else self.limit - self._free.value

    def _semaphore(self) -> anyio.Semaphore:
        if self._free is None:  # made on first use, inside the event loop that will use it
            self._free = anyio.Semaphore(self.limit)
        return self._free

    async def acquire(self) -> Slot:
        free = self._semaphore()
        try:
            free.acquire_nowait()
        except anyio.WouldBlock:
            try:
                if self.wait_seconds <= 0:
                    raise TimeoutError from None
                with anyio.fail_after(self.wait_seconds):
                    await free.acquire()
            except TimeoutError:
                raise RetryLaterError(
                    f"this instance is already running {self.limit} {self.what}, its limit; "
                    f"try again in {RETRY_AFTER_S} s",
                    status=429,
                    retry_after=RETRY_AFTER_S,
                ) from None
        return Slot(self)

    def _give_back(self) -> None:
        self._semaphore().release()


_MiB = 1024 * 1024
#: Memory set aside per export in flight when their number is derived from the instance's memory.
EXPORT_MEMORY_SHARE = 256 * _MiB


@dataclass(frozen=True)
class Guards:
    """Everything that bounds what requests cost: slots for exports, pages and uploads, the per-request caps,
    the watchdog that enforces time budgets, and the budgets' seconds."""

    exports: Slots
    pages: Slots
    uploads: Slots
    caps: QueryCaps
    watchdog: Watchdog
    settings: DataSettings

    @classmethod
    def from_settings(cls, settings: DataSettings, limits: Limits) -> Guards:
        exports = settings.max_concurrent_exports or max(2, limits.memory_bytes // EXPORT_MEMORY_SHARE)
        caps = QueryCaps(
            filters=settings.max_filters,
            filter_values=settings.max_filter_values,
            columns=settings.max_columns,
            order_keys=settings.max_order_keys,
        )
        pages = Slots(settings.max_concurrent_pages or 2 * limits.cpus, "page queries", settings.query_wait_seconds)
        uploads = Slots(settings.max_concurrent_uploads, "uploads", settings.upload_wait_seconds)
        return cls(Slots(exports, "exports"), pages, uploads, caps, Watchdog(), settings)

    def page_budget(self) -> Budget:
        return Budget(self.watchdog, self.settings.query_seconds, "page")

    def export_start_budget(self) -> Budget:
        return Budget(self.watchdog, self.settings.query_seconds, "export's query")

    def export_budget(self) -> Budget:
        return Budget(self.watchdog, self.settings.export_seconds, "export")

    def upload_budget(self) -> Budget:
        return Budget(self.watchdog, self.settings.upload_seconds, "upload's conversion")
