"""A protected app with one slow route, for SIGTERM under load: ``GET /v1/slow?id=N&ms=M`` needs an API key with
the scope ``load:call`` and the caller's Google identity, takes ``ms`` milliseconds, and logs when request ``id``
starts and when it is done (the test reads which requests the app had accepted when the signal came)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from cloudgate.service import Principal, protect, require

logger = logging.getLogger(__name__)

Caller = Annotated[Principal, Depends(require("load:call", google=True))]


def create_app() -> FastAPI:
    app = FastAPI(title="slow")

    @app.get("/v1/slow")
    async def slow(
        caller: Caller, id: Annotated[int, Query(ge=0)], ms: Annotated[int, Query(ge=0, le=5000)] = 1000
    ) -> dict[str, Any]:
        logger.info("slow: started %d", id)
        await asyncio.sleep(ms / 1000)
        logger.info("slow: done %d", id)
        return {"id": id, "email": caller.email}

    return protect(app)
