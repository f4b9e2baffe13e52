"""Google's JSON API conventions shared by the emulated admin APIs: errors, JSON bodies, the caller, permissions.

Every refusal has Google's shape ``{"error": {"code", "message", "status"}}`` (gcloud prints ``message`` and
decides on ``status``). Handlers raise ``ApiError``; ``api_error_handler`` turns it into that answer.

Permissions: the caller is whoever the ``Authorization: Bearer`` access token speaks for (minted by the
emulator's token endpoint). What it may do is read from the project's IAM policy (``State.project_bindings``):
``roles/owner`` and ``roles/editor`` may do everything, and each API has its admin role (``roles/run.admin``,
``roles/iam.serviceAccountAdmin`` ...). ``cloudgate emulator gcloud-env`` makes a ``deployer`` account with
``roles/owner``, as a project owner's gcloud would be.

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

from cloudgate.emulator.context import EmulatorContext
from cloudgate.emulator.state import State

logger = logging.getLogger(__name__)

#: HTTP status -> Google's canonical status name (google.rpc.Code as mapped by Google's HTTP APIs).
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
}
_MAX_BODY_BYTES = 1024 * 1024

#: Which project roles grant a permission, by the permission's service prefix (``run`` of ``run.services.get``).
_ADMIN_ROLES = {
    "run": ("roles/run.admin", "roles/run.developer"),
    "iam": ("roles/iam.serviceAccountAdmin",),
    "secretmanager": ("roles/secretmanager.admin",),
    "resourcemanager": ("roles/resourcemanager.projectIamAdmin", "roles/iam.securityReviewer"),
}
_OWNER_ROLES = ("roles/owner", "roles/editor")
#: Narrower roles that grant one permission besides the admin roles.
_NARROW_ROLES = {
    "secretmanager.versions.access": ("roles/secretmanager.secretAccessor",),
    "run.services.get": ("roles/run.viewer", "roles/viewer"),
    "run.services.list": ("roles/run.viewer", "roles/viewer"),
    "run.services.getIamPolicy": ("roles/run.viewer", "roles/viewer"),
    "resourcemanager.projects.get": ("roles/viewer",),
    "resourcemanager.projects.getIamPolicy": ("roles/viewer",),
}


class ApiError(Exception):
    """A refusal in Google's shape; ``status`` defaults to the canonical name of ``code``."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")


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
    grant = ctx.issuer.access_grant(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise ApiError(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential.",
        )
    return grant.member


def allowed(state: State, member: str, permission: str, resource_bindings: dict[str, list[str]] | None = None) -> bool:
    """Whether ``member`` holds a role granting ``permission`` on the project (or on the resource itself)."""
    roles = [*_OWNER_ROLES, *_ADMIN_ROLES.get(permission.split(".", 1)[0], ()), *_NARROW_ROLES.get(permission, ())]
    for bindings in (state.project_bindings, resource_bindings or {}):
        if any(member in bindings.get(role, []) for role in roles):
            return True
    return False


def require(
    state: State, member: str, permission: str, resource: str, resource_bindings: dict[str, list[str]] | None = None
) -> None:
    """403 ``PERMISSION_DENIED`` worded as Google words it, unless ``allowed``."""
    if not allowed(state, member, permission, resource_bindings):
        logger.info("%s refused %s on %s", member, permission, resource)
        raise ApiError(403, f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).")
