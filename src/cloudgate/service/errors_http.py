"""How errors become HTTP responses: one JSON shape, ``{"error": code, "detail": message}``, never internals.

The codes (and an auth refusal's ``reason`` and ``scope``) come from ``cloudgate.codes``, the contract clients read.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudgate import codes
from cloudgate.errors import (
    AppError,
    AuthError,
    ForbiddenError,
    InvalidCredentialsError,
    KeyStoreError,
    MissingCredentialsError,
    ThrottledError,
    UnavailableError,
)

logger = logging.getLogger(__name__)

_DEFAULT_REASONS = {
    (MissingCredentialsError, "ApiKey"): codes.API_KEY_MISSING,
    (MissingCredentialsError, "Bearer"): codes.ID_TOKEN_MISSING,
    (MissingCredentialsError, "Basic"): codes.PASSWORD_MISSING,
    (InvalidCredentialsError, "ApiKey"): codes.API_KEY_INVALID,
    (InvalidCredentialsError, "Bearer"): codes.ID_TOKEN_INVALID,
    (InvalidCredentialsError, "Basic"): codes.PASSWORD_INVALID,
}


def error_code(status: int) -> str:
    """The short machine-readable code for an HTTP status."""
    return codes.for_status(status)


def error_response(status: int, detail: str, headers: dict[str, str] | None = None, **fields: str) -> JSONResponse:
    """The one error body shape of every cloudgate service; ``fields`` adds machine-readable members (``reason``)."""
    body = {"error": error_code(status), **fields, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def error_body(status: int, detail: str) -> bytes:
    """The same body as bytes, for the pure ASGI layer."""
    return bytes(error_response(status, detail).body)


def www_authenticate(scheme: str | None, realm: str, api_key_header: str) -> dict[str, str]:
    """The ``WWW-Authenticate`` header naming the scheme a 401 expects."""
    if scheme == "Basic":
        quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
        return {"WWW-Authenticate": f'Basic realm="{quoted}", charset="UTF-8"'}
    if scheme == "Bearer":
        return {"WWW-Authenticate": 'Bearer realm="google-id-token"'}
    if scheme == "ApiKey":
        return {"WWW-Authenticate": f'ApiKey header="{api_key_header}"'}
    return {}


def auth_reason(exc: AuthError) -> str | None:
    """The ``reason`` code of an auth refusal: the one it was raised with, else the one its class and scheme imply."""
    if exc.reason is not None:
        return exc.reason
    if isinstance(exc, ThrottledError):
        return codes.THROTTLED
    for (kind, scheme), reason in _DEFAULT_REASONS.items():
        if isinstance(exc, kind) and exc.scheme == scheme:
            return reason
    return None


def auth_error_response(exc: AuthError, realm: str, api_key_header: str) -> Response:
    """The refusal for an ``AuthError``: its status, ``reason`` (and missing ``scope``), ``WWW-Authenticate``."""
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers.update(www_authenticate(exc.scheme, realm, api_key_header))
    if isinstance(exc, ThrottledError):
        headers["Retry-After"] = str(exc.retry_after)
    fields: dict[str, str] = {}
    if (reason := auth_reason(exc)) is not None:
        fields["reason"] = reason
    if isinstance(exc, ForbiddenError) and exc.scope is not None:
        fields["scope"] = exc.scope
    return error_response(exc.status, str(exc), headers, **fields)


async def handle_auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    settings = request.app.state.cloudgate_settings
    return auth_error_response(exc, settings.docs_realm, settings.api_key_header)


async def handle_app_error(request: Request, exc: Exception) -> Response:
    """An app's own ``AppError``: its status and headers, the common body."""
    assert isinstance(exc, AppError)
    return error_response(exc.status, str(exc), exc.headers or None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str | None:
    """Every method some route takes at this path, for a 405's ``Allow``.

    The router names only the first route whose path matched; FastAPI makes one route per method and path, so
    ``GET`` and ``DELETE /items/{id}`` are two routes and ``Allow`` would leave one out. Each method is tried
    against the routes (``matches`` only compares; nothing runs).
    """
    from starlette.routing import Match

    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed) or None


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allow := allowed_methods(request)) is not None:
        headers["Allow"] = allow
    return error_response(exc.status_code, detail, headers)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 in the common shape: ``detail`` says what was wrong in words, ``errors`` lists each problem.

    The submitted values (pydantic's ``input``) are left out: they can be large, or something the caller did not
    mean to have echoed.
    """
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return JSONResponse({"error": error_code(422), "detail": detail, "errors": errors}, status_code=422)


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    """A dependency of the credential checks is down: 503 with ``Retry-After``, logged once, no traceback."""
    if isinstance(exc, KeyStoreError):
        # The store's message names its path and cause: for the log, not for the caller.
        logger.error("API key store unavailable: %s", exc)
        exc = UnavailableError("the service cannot check API keys right now")
    assert isinstance(exc, UnavailableError)
    return error_response(503, str(exc), {"Retry-After": str(exc.retry_after)})
