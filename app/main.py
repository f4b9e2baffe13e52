"""The example service's entry point: ``create_app()`` builds the dataset API and secures it with ``protect``.

Run it with ``cloudgate serve app.main:create_app`` (what the container runs), or ``make run`` for the whole
local setup. Every route needs an API key (``X-API-Key``) with the scope it names; see ``app.deps``.

Example::

    from cloudgate.service import ServiceSettings
    app = create_app(ServiceSettings(keystore="sqlite:///keys.sqlite3"))
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.admission import Guards
from app.catalog import Catalog
from app.deps import Caller
from app.paging import CursorCodec
from app.routes import router
from app.settings import DataSettings
from app.warmup import Warmup
from cloudgate.service import ServiceSettings, protect

logger = logging.getLogger(__name__)


def create_app(settings: ServiceSettings | None = None, data_settings: DataSettings | None = None) -> FastAPI:
    """The dataset API, secured. Settings default to the environment (``CLOUDGATE_*``)."""
    data = data_settings or DataSettings()
    catalog = Catalog(data)
    guards = Guards.from_settings(data, catalog.limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # DuckDB and the sample dataset come with the first request that needs them, not before the server listens
        # (app.warmup; cold start in docs/performance.md).
        warmup = Warmup(catalog, data)
        app.state.warmup = warmup
        try:
            yield
        finally:
            await warmup.close()
            guards.watchdog.close()
            catalog.close()

    app = FastAPI(
        title="cloudgate datasets",
        summary="Tabular datasets (CSV, Parquet) queried with DuckDB: pages of rows, streamed exports, uploads.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.data_settings = data
    app.state.catalog = catalog
    app.state.warmup = None  # set by the lifespan
    app.state.guards = guards
    app.state.cursor_codec = CursorCodec(data.cursor_secret.get_secret_value().encode())
    app.include_router(router)

    @app.get("/v1/whoami", tags=["identity"], summary="Who the service thinks is calling")
    async def whoami(caller: Caller) -> dict[str, Any]:
        return {
            "email": caller.email,
            "key_name": caller.key_name,
            "key_id": caller.key_id,
            "scopes": sorted(caller.scopes),
        }

    return protect(app, settings)
