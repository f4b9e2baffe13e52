"""A protected app with a route that requires the caller's Google identity, for the identity-header attacks."""

from __future__ import annotations

from fastapi import FastAPI

from cloudgate.service import protect
from cloudgate.service.deps import GoogleCaller, KeyCaller


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/me")
    async def me(caller: GoogleCaller) -> dict[str, str | None]:
        return {"email": caller.email}

    @app.get("/v1/keyed")
    async def keyed(caller: KeyCaller) -> dict[str, str | None]:
        return {"key": caller.key_name, "email": caller.email}

    return protect(app)
