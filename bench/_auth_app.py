"""The app the auth benchmark serves: the same trivial payload behind no auth, cloudgate's auth, and the naive way."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cloudgate.service import CloudgateRoute, KeyCaller, ServiceSettings, caller, get_settings, protect, require
from cloudgate.service.keys import authenticate, open_keystore
from cloudgate.service.principal import Principal

KeyAndGoogle = Annotated[Principal, Depends(require(key=True, google=True))]


def _naive_dependencies(settings: ServiceSettings) -> tuple[Any, Any]:
    """The tutorial way: one FastAPI security dependency per scheme, a fresh RS256 verify on every call."""
    store = open_keystore(settings.keystore)
    with urllib.request.urlopen(settings.certs_url) as response:
        public_keys = json.load(response)
    audience = settings.audiences[0]

    def api_key(value: str = Security(APIKeyHeader(name="X-API-Key"))) -> str:
        return authenticate(store, value).name

    def google(creds: HTTPAuthorizationCredentials = Security(HTTPBearer())) -> str:
        kid = jwt.get_unverified_header(creds.credentials)["kid"]
        claims = jwt.decode(creds.credentials, public_keys[kid], algorithms=["RS256"], audience=audience)
        return str(claims["email"])

    return api_key, google


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The benchmark app; settings default to the environment (``cloudgate serve bench._auth_app:create_app``)."""
    settings = settings or get_settings()
    app = FastAPI()
    app.router.route_class = CloudgateRoute  # route-level requirements checked before FastAPI solves anything
    naive_key, naive_google = _naive_dependencies(settings)

    # Starlette tries routes in order, about 1.5 us of CPU for each one passed, so the order is part of what is
    # measured: the unprotected route sits between the two API key + identity routes (one before it, one after).
    key_and_google = require(key=True, google=True)

    @app.get("/v1/whoami-route", dependencies=[Depends(key_and_google)])
    async def whoami_route(request: Request) -> dict[str, Any]:
        """The route-level path (docs/performance.md): ``CloudgateRoute`` checks the requirement, no dependency solve."""
        principal = caller(request)
        return {"email": principal.email, "key_name": principal.key_name, "scopes": sorted(principal.scopes)}

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"email": None, "key_name": None, "scopes": []}

    @app.get("/v1/whoami-google")
    async def whoami_google(caller: KeyAndGoogle) -> dict[str, Any]:
        return {"email": caller.email, "key_name": caller.key_name, "scopes": sorted(caller.scopes)}

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, Any]:
        return {"email": caller.email, "key_name": caller.key_name, "scopes": sorted(caller.scopes)}

    @app.get("/naive/whoami")
    def naive(key_name: str = Depends(naive_key), email: str = Depends(naive_google)) -> dict[str, Any]:
        return {"email": email, "key_name": key_name, "scopes": []}

    @app.get("/slow")
    async def slow(seconds: float = 2.0) -> dict[str, float]:
        """An in-flight request for the SIGTERM drain measurement (bench/http2_servers.py)."""
        await asyncio.sleep(min(seconds, 30.0))
        return {"slept": seconds}

    return protect(app, settings)
