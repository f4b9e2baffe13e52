"""The protected app the fault tests serve: one route behind an API key, one behind a Google identity.

Small on purpose: the fault tests look at what cloudgate answers when what it checks credentials against fails,
not at what an app does with them.
"""

from __future__ import annotations

from fastapi import FastAPI

from cloudgate.service import GoogleCaller, KeyCaller, protect

#: What ``cloudgate serve`` is given: this app, on 127.0.0.1 only (load and fault tests never leave the machine).
APP = "tests.load.fault_app:create_app"
SERVE_ARGS = ("--host", "127.0.0.1")


def create_app() -> FastAPI:
    app = FastAPI(title="fault tests")

    @app.get("/v1/key")
    async def by_key(caller: KeyCaller) -> dict[str, str | None]:
        return {"key": caller.key_id}

    @app.get("/v1/google")
    async def by_google(caller: GoogleCaller) -> dict[str, str | None]:
        return {"email": caller.email}

    return protect(app)
