"""Documents cloudgate's security schemes in the OpenAPI schema, so Swagger's "Authorize" and "Try it out" work.

The auth dependencies are plain functions (cheaper per request than FastAPI's ``Security`` classes); this hook
finds them in the routes once, when the schema is first built, and adds the matching security requirements.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cloudgate.service.settings import ServiceSettings

_KEY_SCHEME = "ApiKeyAuth"
_GOOGLE_SCHEME = "GoogleIdToken"


def _requirements(dependant: Dependant) -> list[dict[str, Any]]:
    found = []
    for sub in dependant.dependencies:
        marker = getattr(sub.call, "__cloudgate__", None)
        if marker:
            found.append(marker)
        found.extend(_requirements(sub))
    return found


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
        for route in app.routes:
            if not isinstance(route, APIRoute):
                continue
            markers = _requirements(route.dependant)
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
                if scopes:
                    note = "Requires API key scope: " + ", ".join(f"`{s}`" for s in scopes) + "."
                    operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
