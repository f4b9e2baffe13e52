"""Google's OAuth 2.0 token endpoint and certs documents, as google-auth and gcloud call them.

``POST /token`` (form-encoded, like ``https://oauth2.googleapis.com/token``):

- ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an ``assertion`` carrying ``target_audience``:
  ``200 {"id_token": ...}`` (``service_account.IDTokenCredentials``, ``fetch_id_token``, gcloud).
- the same without ``target_audience``: ``200 {"access_token", "expires_in", "token_type": "Bearer"}``.
- ``grant_type=refresh_token`` with an emulator user's client id/secret and refresh token: an access token.
- Errors: ``400 {"error": "invalid_grant" | "invalid_request" | "unsupported_grant_type", "error_description"}``,
  ``401 {"error": "invalid_client"}`` for an unknown OAuth client.

``GET /oauth2/v1/certs`` (``{kid: x509 PEM}``) and ``GET /oauth2/v3/certs`` (JWKS), with ``Cache-Control``.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.tokens import GrantError
from cloudgate.google import JWT_BEARER_GRANT

logger = logging.getLogger(__name__)

_REFRESH_GRANT = "refresh_token"
#: How long clients may cache the certs; the previous key stays published, so a rotation never strands a token.
CERTS_MAX_AGE_S = 3600
_MAX_FORM_BYTES = 64 * 1024


def _grant_error(ctx: EmulatorContext, exc: GrantError) -> JSONResponse:
    ctx.counters.add("token_errors", exc.error)
    logger.info("token grant refused: %s", exc.error)
    return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)


async def read_form(request: Request) -> dict[str, str]:
    """A form-encoded body (at most 64 KiB) as ``name -> first value``; ``invalid_request`` otherwise."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise GrantError("invalid_request", "Request body too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise GrantError("invalid_request", "Request body is not UTF-8.") from exc
    return {key: values[0] for key, values in parsed.items()}


def token_routes(ctx: EmulatorContext) -> list[Route]:
    """The routes of the token endpoint and the certs documents."""

    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
            grant_type = form.get("grant_type", "")
            if grant_type == JWT_BEARER_GRANT:
                return JSONResponse(_jwt_bearer(ctx, form))
            if grant_type == _REFRESH_GRANT:
                return JSONResponse(_refresh(ctx, form))
            if not grant_type:
                raise GrantError("invalid_request", "Missing required parameter: grant_type")
            raise GrantError("unsupported_grant_type", "Invalid grant_type: " + grant_type[:64])
        except GrantError as exc:
            return _grant_error(ctx, exc)

    async def certs(request: Request) -> Response:
        return JSONResponse(ctx.keys.certs(), headers=_cache_headers())

    async def jwks(request: Request) -> Response:
        return JSONResponse(ctx.keys.jwks(), headers=_cache_headers())

    return [
        Route("/token", token, methods=["POST"]),
        Route("/oauth2/v4/token", token, methods=["POST"]),
        Route("/oauth2/v1/certs", certs, methods=["GET"]),
        Route("/oauth2/v3/certs", jwks, methods=["GET"]),
    ]


def _jwt_bearer(ctx: EmulatorContext, form: dict[str, str]) -> dict[str, Any]:
    assertion = form.get("assertion")
    if not assertion:
        raise GrantError("invalid_request", "Missing required parameter: assertion")
    email, claims = ctx.issuer.check_assertion(assertion, token_url=ctx.token_url)
    target_audience = claims.get("target_audience")
    if target_audience is not None:
        if not isinstance(target_audience, str) or not target_audience:
            raise GrantError("invalid_request", "Invalid target_audience.")
        logger.info("ID token issued to %s for %s", email, target_audience)
        return {"id_token": ctx.issuer.mint_id_token(email, target_audience)}
    token, expires_in = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    logger.info("access token issued to %s", email)
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


def _refresh(ctx: EmulatorContext, form: dict[str, str]) -> dict[str, Any]:
    missing = [name for name in ("client_id", "client_secret", "refresh_token") if not form.get(name)]
    if missing:
        raise GrantError("invalid_request", "Missing required parameter: " + missing[0])
    email = ctx.issuer.check_refresh_token(form["client_id"], form["client_secret"], form["refresh_token"])
    token, expires_in = ctx.issuer.mint_access_token(f"user:{email}")
    answer: dict[str, Any] = {
        "access_token": token,
        "expires_in": expires_in,
        "token_type": "Bearer",
        "scope": form.get("scope", "openid https://www.googleapis.com/auth/cloud-platform"),
    }
    if "openid" in answer["scope"].split():
        # Like Google, an openid refresh also returns an ID token whose audience is the OAuth client.
        answer["id_token"] = ctx.issuer.mint_id_token(email, form["client_id"])
    logger.info("access token issued to user %s", email)
    return answer


def _cache_headers() -> dict[str, str]:
    return {
        "Cache-Control": f"public, max-age={CERTS_MAX_AGE_S}, must-revalidate, no-transform",
        "Expires": email.utils.formatdate(time.time() + CERTS_MAX_AGE_S, usegmt=True),
    }
