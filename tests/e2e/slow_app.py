"""A protected app with a slow route, for the graceful-shutdown test."""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI

from cloudgate.service import protect


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow(seconds: float = 2.0) -> dict[str, float]:
        print("slow: started", file=sys.stderr, flush=True)  # the test waits for this before it sends SIGTERM
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    return protect(app)
