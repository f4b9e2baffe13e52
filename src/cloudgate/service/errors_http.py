"""How errors become HTTP responses: one JSON shape, ``{"error": code, "detail": message}``, never internals."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudgate.errors import AuthError, DatasetError, KeyStoreError, ThrottledError, UnavailableError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


def error_code(status: int) -> str:
    """The short machine-readable code for an HTTP status."""
    return _CODES.get(status, "client_error" if status < 500 else "server_error")


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body shape of every cloudgate service."""
    return JSONResponse({"error": error_code(status), "detail": detail}, status_code=status, headers=headers)


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


def auth_error_response(exc: AuthError, realm: str, api_key_header: str) -> Response:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers.update(www_authenticate(exc.scheme, realm, api_key_header))
    if isinstance(exc, ThrottledError):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.status, str(exc), headers)


async def handle_auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    settings = request.app.state.cloudgate_settings
    return auth_error_response(exc, settings.docs_realm, settings.api_key_header)


async def handle_dataset_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatasetError)
    return error_response(exc.status, str(exc))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, detail, dict(exc.headers or {}))


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
