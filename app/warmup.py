"""The data folder's start-up, done on first need: DuckDB opened and the sample dataset written.

On Cloud Run the first request of a cold start waits until the container listens, and uvicorn listens only once
the app's lifespan start-up has returned. DuckDB, Arrow and numpy are most of the example service's import time,
and the sample dataset is written at every cold start (an instance's disk is memory, so it starts empty): done in
the lifespan, all of it would come before the first answer, whatever the request. So none of it runs there: the
first request that reads the data folder starts this work and waits for it (``ready()``; the dependency
``CatalogDep`` does this), so it still finds the sample, and requests that need no data (``/v1/whoami``,
``/health``) never wait for it. Arrow is imported by the first export or Parquet upload.

Doing it in the background instead was measured and left out (docs/performance.md, cold start): begun when the
server listens, its imports hold the GIL and delayed the first answer by about 8%; begun after the first answer,
they stalled the requests that came meanwhile for seconds on a loaded machine (a load test saw requests answered
3 s after they were sent). A failure is logged, never fatal: the service runs on without the sample (404), as it
would with ``CLOUDGATE_SAMPLE_ROWS=0``.

Example::

    warmup = Warmup(catalog, settings)   # in the lifespan, as app.state.warmup
    await warmup.ready()                 # before touching the data folder: starts the work once, then waits
    await warmup.close()                 # at shutdown: waits for the work in progress
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio

from app.catalog import Catalog
from app.sample import ensure_sample
from app.settings import DataSettings

logger = logging.getLogger(__name__)


class Warmup:
    """The data folder's start-up for one app run: ``ready()`` before any use, ``close()`` at shutdown."""

    def __init__(self, catalog: Catalog, settings: DataSettings) -> None:
        self._catalog = catalog
        self._settings = settings
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the work in a worker thread, unless it has begun (needs the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cloudgate-app-data-start")

    async def ready(self) -> None:
        """Return once the data folder is ready to serve (the sample written, or its failure logged)."""
        self.start()
        await self._ready.wait()

    async def close(self) -> None:
        """Wait for the work in progress (a worker thread cannot be stopped half-way)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._open_data)
        except Exception:
            logger.exception("start-up: the data folder could not be prepared; the service runs without the sample")
        finally:
            self._ready.set()

    def _open_data(self) -> None:
        started = time.perf_counter()
        self._catalog.cursor().close()  # imports DuckDB and opens the database
        ensure_sample(self._catalog, self._settings.sample_name, self._settings.sample_rows)
        logger.info("start-up: DuckDB and the data folder ready in %.2fs", time.perf_counter() - started)
