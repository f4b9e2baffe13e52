"""Start-up work done once the service has answered: DuckDB opened, the sample dataset written, Arrow loaded.

On Cloud Run the first request of a cold start waits until the container listens, and uvicorn listens only once
the app's lifespan start-up has returned. DuckDB, Arrow and numpy are most of the example service's import time,
and the sample dataset is written at every cold start (an instance's disk is memory, so it starts empty): done in
the lifespan, all of it would come before the first answer. So none of it runs there:

- the first request that reads the data folder starts the warm-up and waits for its data step (``ready()``; the
  dependency ``CatalogDep`` does this), so it still finds the sample;
- any other first request (``/v1/whoami``, ``/health``) is answered at once, and the warm-up starts when its
  response has been sent (``StartAfterFirstResponse``). Started at listen instead, the warm-up's thread holds the
  GIL for much of its second of imports and delays that first answer (measured: docs/performance.md).

Arrow is imported last, so the first export does not pay for it. A failure is logged, never fatal: the service
runs on without the sample (404), as it would with ``CLOUDGATE_SAMPLE_ROWS=0``.

Example::

    warmup = Warmup(catalog, settings)   # in the lifespan, as app.state.warmup
    warmup.start()                       # idempotent; needs the running event loop
    await warmup.ready()                 # before touching the data folder
    await warmup.close()                 # at shutdown: waits for the work in progress
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from app.catalog import Catalog
from app.sample import ensure_sample
from app.settings import DataSettings

logger = logging.getLogger(__name__)

#: Imported in the background after the data step: what the first export, or a Parquet upload, would load.
_LATER_MODULES = ("pyarrow", "pyarrow.csv", "pyarrow.parquet")


class Warmup:
    """The background start-up of one app: ``start()`` it from the lifespan, ``close()`` it at shutdown."""

    def __init__(self, catalog: Catalog, settings: DataSettings) -> None:
        self._catalog = catalog
        self._settings = settings
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the work in a worker thread, unless it has begun (needs the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cloudgate-app-warmup")

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
        try:
            await anyio.to_thread.run_sync(_import_later_modules)
        except Exception:  # the export that needs them will raise the same error, where it can be answered
            logger.exception("start-up: Arrow could not be imported")

    def _open_data(self) -> None:
        started = time.perf_counter()
        self._catalog.cursor().close()  # imports DuckDB and opens the database
        ensure_sample(self._catalog, self._settings.sample_name, self._settings.sample_rows)
        logger.info("start-up: DuckDB and the data folder ready in %.2fs", time.perf_counter() - started)


def _import_later_modules() -> None:
    for name in _LATER_MODULES:
        importlib.import_module(name)


class StartAfterFirstResponse:
    """ASGI middleware: once an HTTP response has been sent, start the app's warm-up (``app.state.warmup``).

    Raw ASGI, so it costs one call per request (``BaseHTTPMiddleware`` would cost a task group per request).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if not self._started and scope["type"] == "http":
            warmup: Warmup | None = scope["app"].state.warmup
            if warmup is not None:
                self._started = True
                warmup.start()
