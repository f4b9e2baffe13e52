"""The IAM Credentials API: impersonating a service account (``generateIdToken``, ``generateAccessToken``).

``POST /v1/projects/-/serviceAccounts/{email}:generateIdToken`` with ``{"audience", "includeEmail"}`` answers
``{"token": ...}``; ``:generateAccessToken`` with ``{"scope": [...], "lifetime": "3600s"}`` answers
``{"accessToken", "expireTime"}``. The caller authenticates with ``Authorization: Bearer <access token>`` and
needs ``roles/iam.serviceAccountTokenCreator`` on the target account or the project (``cloudgate emulator accounts
grant``; Owner and Editor do not hold it, as on Google), or ``roles/iam.workloadIdentityUser`` (a federated caller
from the STS matches ``principal://``/``principalSet://``), as decided by ``core/permissions.py``.
Errors use Google's JSON shape ``{"error": {"code", "message", "status"}}``: 401 UNAUTHENTICATED,
403 PERMISSION_DENIED, 404 NOT_FOUND, 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import account_resource, policy_index

logger = logging.getLogger(__name__)

_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def google_error(code: int, message: str) -> JSONResponse:
    """An error in the shape Google's JSON APIs use."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": _STATUS_NAMES.get(code, "UNKNOWN")}},
        status_code=code,
    )


def _truthy(value: object) -> bool:
    # google-auth sends the string "true"; other clients send a JSON boolean.
    return value is True or (isinstance(value, str) and value.lower() == "true")


#: The permission each method needs on the target account (``roles/iam.serviceAccountTokenCreator`` holds both).
_PERMISSIONS = {
    "generateIdToken": "iam.serviceAccounts.getOpenIdToken",
    "generateAccessToken": "iam.serviceAccounts.getAccessToken",
}


def iam_routes(ctx: EmulatorContext) -> list[Route]:
    """The IAM Credentials routes."""

    async def service_account_method(request: Request) -> Response:
        target, _, method = request.path_params["target"].rpartition(":")
        if method not in {"generateIdToken", "generateAccessToken"}:
            return google_error(404, f"Method {method!r} not found.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        grant = (
            (ctx.issuer.access_grant(token) or ctx.issuer.self_signed_grant(token))
            if scheme.lower() == "bearer"
            else None
        )
        state = ctx.store.current()
        index = policy_index(state)
        if grant is None or not index.speaks_for(grant.member, grant.subject_id):
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
        email = state.account_email(target)
        permission = _PERMISSIONS[method]
        account = state.accounts.get(email)
        allowed = index.allows(grant.member, permission, account_resource(email), grant.attributes)
        if account is None or account.disabled or not allowed:
            # Google answers 403 for both, so a caller cannot probe which accounts exist.
            ctx.counters.add("token_errors", "permission_denied")
            logger.info("impersonation of %s refused for %s", email, grant.member)
            return google_error(403, f"Permission '{permission}' denied on resource (or it may not exist).")
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return google_error(400, "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.")
        if method == "generateIdToken":
            return _generate_id_token(ctx, email, body)
        return _generate_access_token(ctx, email, body)

    return [Route("/v1/projects/{project}/serviceAccounts/{target:path}", service_account_method, methods=["POST"])]


def _generate_id_token(ctx: EmulatorContext, email: str, body: dict[str, Any]) -> Response:
    audience = body.get("audience")
    if not isinstance(audience, str) or not audience:
        return google_error(400, "Request contains an invalid argument: audience is required.")
    token = ctx.issuer.mint_id_token(email, audience, include_email=_truthy(body.get("includeEmail")), numeric_azp=True)
    logger.info("ID token for %s issued by impersonation, audience %s", email, audience)
    return JSONResponse({"token": token})


def _generate_access_token(ctx: EmulatorContext, email: str, body: dict[str, Any]) -> Response:
    scope = body.get("scope")
    if not isinstance(scope, list) or not scope:
        return google_error(400, "Request contains an invalid argument: scope is required.")
    token, expires_in = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    expire = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expires_in)
    return JSONResponse({"accessToken": token, "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")})
