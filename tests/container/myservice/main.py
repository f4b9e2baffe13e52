"""The smallest protected service with a slow route (for the SIGTERM drain test of the image)."""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI

from cloudgate.service import protect


def create_app() -> FastAPI:
    app = FastAPI(title="myservice", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/slow")
    async def slow(seconds: float = 2.0) -> dict[str, float]:
        print("slow: started", file=sys.stderr, flush=True)  # the test sends SIGTERM once this is printed
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    return protect(app)
