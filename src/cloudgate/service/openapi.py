"""Documents cloudgate's security schemes in the OpenAPI schema, so Swagger's "Authorize" and "Try it out" work.

The auth dependencies are plain functions (cheaper per request than FastAPI's ``Security`` classes); this hook
finds them in the routes once, when the schema is first built, and adds the matching security requirements.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

_KEY_SCHEME = "ApiKeyAuth"
_ERROR_SCHEMA = "CloudgateError"
_ERROR_REF = {"$ref": f"#/components/schemas/{_ERROR_SCHEMA}"}
_GOOGLE_SCHEME = "GoogleIdToken"


def _requirements(dependant: Dependant) -> list[dict[str, Any]]:
    found = []
    for sub in dependant.dependencies:
        marker = getattr(sub.call, "__cloudgate__", None)
        if marker:
            found.append(marker)
        found.extend(_requirements(sub))
    return found


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route with its effective path, including those of routers added with ``include_router``.

    FastAPI 0.16x keeps included routers as lazy entries of ``app.routes`` and resolves them with
    ``iter_route_contexts`` (what its own schema generation uses); older versions list plain ``APIRoute`` objects.
    """
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in iter_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _document_refusals(operation: dict[str, Any], scopes: list[str]) -> None:
    """The answers a protected route can give before its code runs, in the common error shape."""
    body = {"content": {"application/json": {"schema": _ERROR_REF}}}
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", {"description": "Missing, invalid, expired or revoked credentials", **body})
    forbidden = f"The API key lacks the scope ({', '.join(scopes)})" if scopes else "The caller is not allowed here"
    responses.setdefault("403", {"description": forbidden, **body})


def remove_open_docs_routes(app: FastAPI) -> None:
    """Drop the docs routes FastAPI added by itself at creation: they would answer without any check."""
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    if app.openapi_url or app.docs_url or app.redoc_url:
        kept = [route for route in app.router.routes if getattr(route, "path", None) not in paths]
        if len(kept) != len(app.router.routes):
            logger.info("replacing FastAPI's unprotected docs routes with the guarded ones")
        app.router.routes[:] = kept
    app.openapi_url = app.docs_url = app.redoc_url = None


def install_openapi(app: FastAPI, settings: ServiceSettings) -> None:
    """Wrap ``app.openapi`` to add the API key and Google ID token schemes to the routes that need them."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[_KEY_SCHEME] = {
            "type": "apiKey",
            "in": "header",
            "name": settings.api_key_header,
            "description": "A cloudgate API key (`cgk_...`).",
        }
        schemes[_GOOGLE_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Google-signed ID token; Cloud Run's IAM front end checks it before the service sees it.",
        }
        schema["components"].setdefault("schemas", {})[_ERROR_SCHEMA] = {
            "type": "object",
            "title": "Error",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "description": "A short code, e.g. `unauthenticated`, `forbidden`."},
                "reason": {
                    "type": "string",
                    "description": "For a refused credential, what exactly was wrong, e.g. `api_key_expired`.",
                },
                "scope": {"type": "string", "description": "With reason `scope_missing`: the scope the key lacks."},
                "detail": {
                    "type": "string",
                    "description": "What was wrong, in words (may be reworded: read the codes).",
                },
            },
        }
        if "HTTPValidationError" in schema["components"]["schemas"]:
            # FastAPI documents its own 422 body; protect() answers it in the common shape (errors_http).
            schema["components"]["schemas"]["HTTPValidationError"] = {
                "type": "object",
                "title": "HTTPValidationError",
                "required": ["error", "detail", "errors"],
                "properties": {
                    "error": {"type": "string", "const": "unprocessable"},
                    "detail": {"type": "string", "description": "Every problem, in words."},
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                },
            }
        for route in _api_routes(app):
            dependant = getattr(route, "dependant", None)
            markers = _requirements(dependant) if dependant is not None else []
            if not markers:
                continue
            requirement: dict[str, list[str]] = {}
            scopes = sorted({m["scope"] for m in markers if m["scope"]})
            if any(m["key"] for m in markers):
                requirement[_KEY_SCHEME] = []
            if any(m["google"] for m in markers):
                requirement[_GOOGLE_SCHEME] = []
            for method in route.methods or ():
                operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                operation["security"] = [requirement]
                _document_refusals(operation, scopes)
                if scopes:
                    note = "Requires API key scope: " + ", ".join(f"`{s}`" for s in scopes) + "."
                    operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
