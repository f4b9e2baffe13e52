"""Documents cloudgate's security schemes in the OpenAPI schema, so Swagger's "Authorize" and "Try it out" work.

A route's requirements (``auth.Requirement``) are ``SecurityBase`` dependencies, so FastAPI itself lists them in
each operation's ``security`` under their own names. This hook reads only that schema, once, when it is first
built: it replaces those names with the two real schemes (API key, Google ID token) the requirements carry, notes
the scopes, and documents the refusals. It does not walk FastAPI's routes or dependency trees.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cloudgate.google import IAP_ASSERTION_HEADER
from cloudgate.service.auth import Requirement
from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

_KEY_SCHEME = "ApiKeyAuth"
_ERROR_SCHEMA = "CloudgateError"
_ERROR_REF = {"$ref": f"#/components/schemas/{_ERROR_SCHEMA}"}
_GOOGLE_SCHEME = "GoogleIdToken"
_IAP_SCHEME = "IapAssertion"
_VALIDATION_SCHEMA = "HTTPValidationError"
_VALIDATION_REF = {"$ref": f"#/components/schemas/{_VALIDATION_SCHEMA}"}
#: What the middleware answers to any request, before routing (``middleware._early_refusal``).
_EARLY_REFUSALS = {
    "400": "Invalid `Content-Length`, or the request is invalid (see `detail`)",
    "413": "The request body is larger than the service accepts",
    "431": "The request headers are larger than the service accepts",
}


#: One problem of a 422 (``errors_http.handle_validation_error``): where, what, and pydantic's type code.
_VALIDATION_ERROR = {
    "type": "object",
    "title": "ValidationError",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
}


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in schema.get("paths", {}).values() for op in item.values() if isinstance(op, dict)]


def _secure(operation: dict[str, Any]) -> None:
    """Replace the names of cloudgate's requirements in ``operation["security"]`` with the real schemes.

    Every dependency of a route runs, so its requirements all hold at once: one entry, AND-ed (FastAPI lists one
    entry per scheme, which OpenAPI reads as "any of").
    """
    merged: dict[str, list[str]] = {}
    requirements: list[Requirement] = []
    for entry in operation.get("security", []):
        for name, scopes in entry.items():
            requirement = Requirement.named(name)
            if requirement is None:
                merged[name] = scopes
            else:
                requirements.append(requirement)
    if not requirements:
        return
    if any(r.key for r in requirements):
        merged[_KEY_SCHEME] = []
    if any(r.google for r in requirements):
        merged[_GOOGLE_SCHEME] = []
    if any(r.iap for r in requirements):
        merged[_IAP_SCHEME] = []
    operation["security"] = [merged]
    scopes = sorted({r.scope for r in requirements if r.scope})
    _document_refusals(operation, scopes)
    if scopes:
        note = "Requires API key scope: " + ", ".join(f"`{s}`" for s in scopes) + "."
        operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()


def _declared(app: FastAPI) -> list[tuple[str, Requirement]]:
    """Each route path with each cloudgate requirement it declares, from the schema FastAPI generates itself
    (``get_openapi``: before this module's hook renames the requirements)."""
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    return [
        (path, requirement)
        for path, item in schema.get("paths", {}).items()
        for operation in item.values()
        if isinstance(operation, dict)
        for entry in operation.get("security", [])
        for name in entry
        if (requirement := Requirement.named(name)) is not None
    ]


def declared_scopes(app: FastAPI) -> frozenset[str]:
    """Every API key scope the app's routes require (``serve --dev`` grants them to its session key)."""
    return frozenset(requirement.scope for _, requirement in _declared(app) if requirement.scope)


def routes_requiring_identity(app: FastAPI) -> list[str]:
    """The paths of the routes that require the caller's Google identity (for the start-up exposure warning)."""
    return sorted({path for path, requirement in _declared(app) if requirement.google})


def _document_refusals(operation: dict[str, Any], scopes: list[str]) -> None:
    """The answers a protected route can give before its code runs, in the common error shape."""
    body = {"content": {"application/json": {"schema": _ERROR_REF}}}
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", {"description": "Missing, invalid, expired or revoked credentials", **body})
    forbidden = f"The API key lacks the scope ({', '.join(scopes)})" if scopes else "The caller is not allowed here"
    responses.setdefault("403", {"description": forbidden, **body})
    responses.setdefault(
        "503",
        {
            "description": "Credentials cannot be checked right now (e.g. the key store is down); retry later",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
            **body,
        },
    )


def _document_errors(operation: dict[str, Any]) -> None:
    """Every operation's early refusals, and every 4xx/5xx answer in the one error shape.

    An app documents its own answers with a description only (FastAPI ``responses=``); this gives them the body
    ``protect()`` answers with: the common error shape, or for a 422 the same with ``errors`` when FastAPI's
    request validation refused the request.
    """
    responses = operation.setdefault("responses", {})
    for status, description in _EARLY_REFUSALS.items():
        responses.setdefault(status, {"description": description})
    for status, response in responses.items():
        if not (str(status).isdigit() and int(status) >= 400):
            continue
        reference = _VALIDATION_REF if str(status) == "422" else _ERROR_REF
        response["content"] = {"application/json": {"schema": reference}}


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
        # FastAPI documents its own 422 body; protect() answers it in the common shape (errors_http), and an
        # app's own 422 (an AppError) in the same shape without ``errors``.
        schema["components"]["schemas"].setdefault("ValidationError", _VALIDATION_ERROR)
        schema["components"]["schemas"][_VALIDATION_SCHEMA] = {
            "type": "object",
            "title": "HTTPValidationError",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "const": "unprocessable"},
                "detail": {"type": "string", "description": "Every problem, in words."},
                "errors": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ValidationError"},
                    "description": "When the request failed validation: each problem, where it is.",
                },
            },
        }
        for name in [name for name in schemes if Requirement.named(name) is not None]:
            del schemes[name]
        for operation in _operations(schema):
            _secure(operation)
            _document_errors(operation)
        if any(_IAP_SCHEME in entry for op in _operations(schema) for entry in op.get("security", [])):
            schemes[_IAP_SCHEME] = {
                "type": "apiKey",
                "in": "header",
                "name": IAP_ASSERTION_HEADER,
                "description": "Identity-Aware Proxy's signed assertion (ES256): IAP adds it once the person has "
                "signed in; the unsigned X-Goog-Authenticated-User-* headers are not accepted.",
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
