"""Google's JSON API conventions shared by the emulated admin APIs: errors, JSON bodies, the caller, permissions.

Every refusal has Google's shape ``{"error": {"code", "message", "status"}}`` (gcloud prints ``message`` and
decides on ``status``). Handlers raise ``ApiError``; ``api_error_handler`` turns it into that answer.

The caller is whoever the ``Authorization: Bearer`` access token speaks for (minted by the emulator's token
endpoint); what it may do is decided in ``core/permissions.py``. ``cloudgate emulator gcloud-env`` makes a
``deployer`` account with ``roles/owner``, as a project owner's gcloud would be.

Example::

    member = caller(ctx, request)
    require(ctx.store.current(), member, "run.services.create")
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from cloudgate.emulator.core.api_error import STATUS_NAMES, ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import policy_index

logger = logging.getLogger(__name__)

_MAX_BODY_BYTES = 1024 * 1024


def google_error(code: int, message: str, status: str | None = None) -> JSONResponse:
    """An error in the shape Google's JSON APIs use."""
    name = status or STATUS_NAMES.get(code, "UNKNOWN")
    return JSONResponse({"error": {"code": code, "message": message, "status": name}}, status_code=code)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for ``ApiError``."""
    assert isinstance(exc, ApiError)
    return google_error(exc.code, exc.message, exc.status)


async def unrouted_handler(request: Request, exc: Exception) -> JSONResponse:
    """No route (404) or method (405): say plainly that the emulator lacks the call, in Google's shape."""
    code = getattr(exc, "status_code", 404)
    message = f"The cloudgate emulator does not implement {request.method} {request.url.path} (see docs/emulator.md)."
    return google_error(code if code in (404, 405) else 404, message, "UNIMPLEMENTED" if code == 405 else "NOT_FOUND")


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 ``INVALID_ARGUMENT`` for anything else."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            raise ApiError(400, "Request payload size exceeds the limit.")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid JSON payload received.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    return data


def caller(ctx: EmulatorContext, request: Request) -> str:
    """The IAM member (``serviceAccount:EMAIL``/``user:EMAIL``) of the request's access token; 401 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    grant = None
    if scheme.lower() == "bearer":
        # An access token, or a service account's self-signed JWT (Google's client libraries send one for a key).
        grant = ctx.issuer.access_grant(token) or ctx.issuer.self_signed_grant(token)
    # A token of a deleted (or disabled) account no longer speaks for anyone, as at Google.
    if grant is None or not policy_index(ctx.store.current()).speaks_for(grant.member, grant.subject_id):
        raise ApiError(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential.",
        )
    return grant.member
