"""The API docs (Swagger UI, ReDoc, the OpenAPI schema) served behind HTTP Basic or an IAP sign-in, with no CDN.

``install_docs(app, settings)`` adds, in front of the app's own routes::

    /docs                 Swagger UI            /redoc                ReDoc
    /docs/oauth2-redirect Swagger's OAuth page  /openapi.json         the schema
    /docs/assets/...      swagger-ui-bundle.js, swagger-ui.css, swagger-init.js, redoc.standalone.js, favicon.png

Every one of them needs a docs user, or with ``CLOUDGATE_DOCS_AUTH`` ``iap``/``both`` a person IAP signed in who is
listed in ``CLOUDGATE_DOCS_IAP_USERS`` (``docs_guard.DocsGuard``); with nobody configured none of them exists (404,
the secure default). The assets are the files shipped in ``fastapi_offline``. The HTML pages carry
a strict Content-Security-Policy: Swagger UI's start-up code lives in the served ``swagger-init.js`` and reads
its settings from a JSON block, so no inline script runs. Any docs routes FastAPI itself added (an app created
with the default ``docs_url``) are removed first, so they cannot bypass the check.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastapi_offline
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html, swagger_ui_default_parameters
from fastapi.routing import APIRoute
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

from cloudgate.errors import AuthError, UnavailableError
from cloudgate.service.docs_guard import DocsGuard, docs_refusal
from cloudgate.service.docs_users import DocsUsers
from cloudgate.service.errors_http import error_response
from cloudgate.service.lifespan import close_on_shutdown
from cloudgate.service.openapi import remove_open_docs_routes
from cloudgate.service.settings import ServiceSettings

if TYPE_CHECKING:
    from cloudgate.service.iap import IapVerifier

logger = logging.getLogger(__name__)

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OPENAPI_PATH = "/openapi.json"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"

_STATIC = Path(fastapi_offline.__file__).parent / "static"
_JS = "application/javascript; charset=utf-8"
_FILES = {
    "swagger-ui-bundle.js": _JS,
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": _JS,
    "favicon.png": "image/png",
}
# Swagger UI's start-up, served as a file so the page's CSP needs no inline script. The schema URL is made absolute
# from ``location.origin``: a page opened as http://user:pass@host/docs resolves relative URLs with the credentials
# in them, and browsers refuse to fetch such a URL ("Failed to load API definition"); the origin has none, and the
# browser still sends the Basic login it was given for this host.
_SWAGGER_INIT_JS = """"use strict";
(function () {
  var config = JSON.parse(document.getElementById("swagger-config").textContent);
  config.url = window.location.origin + config.url;
  config.oauth2RedirectUrl = window.location.origin + config.oauth2RedirectPath;
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  window.ui = SwaggerUIBundle(config);
})();
"""

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_NO_STORE = {"Cache-Control": "no-store", **_SECURITY_HEADERS}
_ASSET_CACHE = {"Cache-Control": "private, max-age=3600", **_SECURITY_HEADERS}
_CSP_COMMON = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# Images: Swagger UI's stylesheet draws its icons as data: SVGs. ReDoc's bundle injects <style> elements
# (styled-components) and runs its search index in a blob: worker.
SWAGGER_CSP = f"{_CSP_COMMON}; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
REDOC_CSP = (
    f"{_CSP_COMMON}; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; font-src 'self' data:"
)


def _oauth2_redirect_page() -> tuple[str, str]:
    """FastAPI's OAuth2 redirect page and a CSP that allows its one inline script by hash."""
    page = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return page, f"{_CSP_COMMON}; script-src 'sha256-{digest}'"


_OAUTH2_REDIRECT_HTML, OAUTH2_REDIRECT_CSP = _oauth2_redirect_page()


def _json_for_html(value: Any) -> str:
    # Inside <script type="application/json"> only "<" could end the block early; escape the HTML specials.
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(title: str, head: str, body: str, csp: str) -> HTMLResponse:
    text = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(text, headers={**_NO_STORE, "Content-Security-Policy": csp})


def _guarded_route_class(guard: DocsGuard) -> type[APIRoute]:
    """An ``APIRoute`` that answers the guard's refusals itself, so docs routes need no app-level handler."""

    class _DocsRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except AuthError as exc:
                    return docs_refusal(exc, guard.realm)
                except UnavailableError as exc:  # the shared login throttle is down: fail closed
                    headers = {"Retry-After": str(exc.retry_after), "Cache-Control": "no-store"}
                    return error_response(503, str(exc), headers)

            return guarded

    return _DocsRoute


def _handlers(app: FastAPI) -> dict[str, Callable[..., Awaitable[Response]]]:
    async def swagger_ui(request: Request) -> Response:
        root = _root(request)
        config = {
            **swagger_ui_default_parameters,
            **(app.swagger_ui_parameters or {}),
            "url": root + OPENAPI_PATH,
            "oauth2RedirectPath": root + OAUTH2_REDIRECT_PATH,
            "validatorUrl": None,  # the default sends the schema to swagger.io
        }
        head = (
            f'<link rel="stylesheet" href="{root}{ASSETS_PATH}/swagger-ui.css">\n'
            f'<link rel="icon" type="image/png" href="{root}{ASSETS_PATH}/favicon.png">\n'
        )
        body = (
            '<div id="swagger-ui"></div>\n'
            f'<script id="swagger-config" type="application/json">{_json_for_html(config)}</script>\n'
            f'<script src="{root}{ASSETS_PATH}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{root}{ASSETS_PATH}/swagger-init.js"></script>\n'
        )
        return _page(f"{app.title} - Swagger UI", head, body, SWAGGER_CSP)

    async def redoc(request: Request) -> Response:
        root = _root(request)
        head = f'<link rel="icon" type="image/png" href="{root}{ASSETS_PATH}/favicon.png">\n'
        body = (
            f'<redoc spec-url="{html.escape(root + OPENAPI_PATH)}"></redoc>\n'
            f'<script src="{root}{ASSETS_PATH}/redoc.standalone.js"></script>\n'
        )
        return _page(f"{app.title} - ReDoc", head, body, REDOC_CSP)

    async def oauth2_redirect() -> Response:
        return HTMLResponse(
            _OAUTH2_REDIRECT_HTML, headers={**_NO_STORE, "Content-Security-Policy": OAUTH2_REDIRECT_CSP}
        )

    async def openapi(request: Request) -> Response:
        schema = app.openapi()
        root = _root(request)
        if root and app.root_path_in_servers and root not in {s.get("url") for s in schema.get("servers", [])}:
            schema = {**schema, "servers": [{"url": root}, *schema.get("servers", [])]}
        return JSONResponse(schema, headers=_NO_STORE)

    async def swagger_init() -> Response:
        return Response(_SWAGGER_INIT_JS, media_type=_JS, headers=_ASSET_CACHE)

    handlers: dict[str, Callable[..., Awaitable[Response]]] = {
        DOCS_PATH: swagger_ui,
        REDOC_PATH: redoc,
        OAUTH2_REDIRECT_PATH: oauth2_redirect,
        OPENAPI_PATH: openapi,
        f"{ASSETS_PATH}/swagger-init.js": swagger_init,
    }
    for name, media_type in _FILES.items():
        handlers[f"{ASSETS_PATH}/{name}"] = _file_handler(_STATIC / name, media_type)
    return handlers


def _file_handler(path: Path, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def serve_file() -> Response:
        return FileResponse(path, media_type=media_type, headers=_ASSET_CACHE)

    return serve_file


def install_docs(app: FastAPI, settings: ServiceSettings, *, iap: IapVerifier | None = None) -> None:
    """Serve the docs behind HTTP Basic for the configured docs users, and/or an IAP sign-in of the listed people
    (``settings.docs_auth``, ``iap`` the app's verifier); with nobody configured, serve no docs at all (404).

    Raises:
        ConfigError: the docs users setting or file is malformed (see ``load_docs_users``), or IAP is asked for
            without an audience or without anybody listed.
    """
    users = DocsUsers(settings)
    remove_open_docs_routes(app)
    if not users and not settings.docs_auth.iap:
        logger.info("docs disabled: no docs users configured")
        return
    guard = DocsGuard(users, settings, iap=iap)
    route_class = _guarded_route_class(guard)
    before = {id(route) for route in app.router.routes}
    for path, endpoint in _handlers(app).items():
        app.router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            include_in_schema=False,
            dependencies=[Depends(guard)],
            route_class_override=route_class,
            response_class=Response,
        )
    close_on_shutdown(app, guard.throttle.aclose)  # the throttle's Redis connections
    # Put the docs first, so an app's catch-all route cannot shadow them.
    added: list[BaseRoute] = [route for route in app.router.routes if id(route) not in before]
    app.router.routes[:] = added + [route for route in app.router.routes if id(route) in before]
    logger.info(
        "docs enabled (%s) at %s and %s for %d docs user(s)%s",
        settings.docs_auth.value,
        DOCS_PATH,
        REDOC_PATH,
        len(users) if settings.docs_auth.basic else 0,
        f" and {len(settings.docs_iap_users)} IAP member(s)" if settings.docs_auth.iap else "",
    )
