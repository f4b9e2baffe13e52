"""A protected app with a slow route (the graceful-shutdown test) and a route that needs a Google identity."""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI

from cloudgate.service import GoogleCaller, protect


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow(seconds: float = 2.0) -> dict[str, float]:
        print("slow: started", file=sys.stderr, flush=True)  # the test waits for this before it sends SIGTERM
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @app.get("/whoami")
    async def whoami(caller: GoogleCaller) -> dict[str, str | None]:
        return {"email": caller.email}

    return protect(app)
