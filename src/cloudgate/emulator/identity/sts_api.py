"""The Security Token Service: a CI job's OIDC token exchanged for a federated access token (RFC 8693).

``POST /sts/v1/token`` (``https://sts.googleapis.com/v1/token`` through the emulator's proxy; form-encoded, as
google-auth's ``external_account`` credentials send it)::

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    audience=//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
    subject_token=<the OIDC token>  subject_token_type=urn:ietf:params:oauth:token-type:jwt (or :id_token)
    requested_token_type=urn:ietf:params:oauth:token-type:access_token  scope=https://www.googleapis.com/auth/cloud-platform

answers ``200 {"access_token", "issued_token_type", "token_type": "Bearer", "expires_in"}``. The checks, in
Google's order: the provider named by ``audience`` exists and is enabled (else ``invalid_target``); the token is
signed by the provider's issuer (its JWKS: the emulator's own issuers directly, ``--jwk-json-path`` inline, any
other issuer through its discovery document), ``iss`` is the provider's issuer URI, ``aud`` is one of the
allowed audiences (by default the provider's own name with ``https:`` in front), and it is current (else
``invalid_grant``); the attribute mapping gives ``google.subject``; the attribute condition holds (else
``unauthorized_client``, "The given credential is rejected by the attribute condition."). Errors are
``400 {"error", "error_description"}`` like Google's.

The access token speaks for ``principal://iam.googleapis.com/<pool>/subject/<google.subject>`` and carries the
mapped attributes, so ``principalSet://`` bindings can be matched (``core/federation.py``).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.federation import IAM_HOST, FederatedPrincipal, pool_name
from cloudgate.emulator.core.state import WorkloadProvider
from cloudgate.emulator.core.tokens import GrantError
from cloudgate.emulator.identity.oidc_issuer import ISSUER_NAME, issuer_keys
from cloudgate.emulator.identity.token_api import read_form
from cloudgate.emulator.identity.workload_attributes import MappingError, condition_holds, map_attributes

logger = logging.getLogger(__name__)

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
_SUBJECT_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
_AUDIENCE = re.compile(
    r"^" + IAM_HOST + r"projects/(?P<project>[0-9]+)/locations/global/workloadIdentityPools/(?P<pool>[a-z0-9-]{4,32})"
    r"/providers/(?P<provider>[a-z0-9-]{4,32})$"
)
_INVALID_TARGET = (
    'The target service indicated by the "audience" parameters is invalid. This might either be because the pool '
    "or provider is disabled or deleted or because it doesn't exist."
)
_REJECTED = "The given credential is rejected by the attribute condition."
#: Google accepts OIDC tokens valid for at most a day, with a little clock skew.
_MAX_LIFETIME_S = 24 * 3600
_LEEWAY_S = 60
_FETCH_TIMEOUT_S = 5.0
_MAX_FETCH_BYTES = 256 * 1024


def sts_routes(ctx: EmulatorContext) -> list[Route]:
    """The token-exchange route (mounted under ``/sts``)."""

    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
            return JSONResponse(await _exchange(ctx, form))
        except GrantError as exc:
            ctx.counters.add("token_errors", exc.error)
            logger.info("token exchange refused: %s", exc.error)
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)

    return [Route("/v1/token", token, methods=["POST"])]


async def _exchange(ctx: EmulatorContext, form: dict[str, str]) -> dict[str, Any]:
    grant_type = form.get("grant_type", "")
    if grant_type != TOKEN_EXCHANGE_GRANT:
        raise GrantError("unsupported_grant_type", f"Unsupported grant_type: {grant_type[:80]!r}.")
    for name in ("audience", "subject_token", "subject_token_type"):
        if not form.get(name):
            raise GrantError("invalid_request", f"Missing required parameter: {name}.")
    if form["subject_token_type"] not in _SUBJECT_TYPES:
        raise GrantError("invalid_request", f"Invalid subject_token_type: {form['subject_token_type'][:80]!r}.")
    requested = form.get("requested_token_type", ACCESS_TOKEN_TYPE)
    if requested != ACCESS_TOKEN_TYPE:
        raise GrantError("invalid_request", f"Invalid requested_token_type: {requested[:80]!r}.")
    pool, provider = _provider(ctx, form["audience"])
    claims = await _verify(ctx, provider, form["subject_token"], form["audience"])
    try:
        attributes = map_attributes(provider.attribute_mapping, claims)
    except MappingError as exc:
        raise GrantError("invalid_request", str(exc)) from exc
    if not condition_holds(provider.attribute_condition, claims, attributes):
        raise GrantError("unauthorized_client", _REJECTED)
    who = FederatedPrincipal(pool, attributes)
    token, expires_in = ctx.issuer.mint_access_token(who.member, attributes=attributes)
    logger.info("federated token issued for %s", who.member)
    return {
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }


def _provider(ctx: EmulatorContext, audience: str) -> tuple[str, WorkloadProvider]:
    """The pool's resource name and the enabled provider that ``audience`` names; ``invalid_target`` otherwise."""
    match = _AUDIENCE.match(audience)
    state = ctx.store.current()
    if match is None or match["project"] != state.project_number:
        raise GrantError("invalid_target", _INVALID_TARGET)
    pool = state.workload_pools.get(match["pool"])
    provider = pool.providers.get(match["provider"]) if pool else None
    if pool is None or provider is None or pool.disabled or provider.disabled:
        raise GrantError("invalid_target", _INVALID_TARGET)
    return pool_name(match["project"], match["pool"]), provider


async def _verify(ctx: EmulatorContext, provider: WorkloadProvider, token: str, audience: str) -> dict[str, Any]:
    """The claims of a subject token signed by the provider's issuer, for an allowed audience, and current."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise GrantError("invalid_grant", "Unable to parse the ID Token.") from exc
    if unverified.get("iss") != provider.issuer_uri:
        raise GrantError(
            "invalid_grant",
            f"The issuer in ID Token {str(unverified.get('iss'))[:200]} does not match the expected ones: "
            f"{provider.issuer_uri}.",
        )
    key = await _signing_key(ctx, provider, header.get("kid"))
    allowed = provider.allowed_audiences or ["https:" + audience, audience.removeprefix("//")]
    try:  # exp/iat against the emulator's clock below
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256", "ES256"],
            audience=allowed,
            options={"require": ["iss", "aud", "sub", "iat", "exp"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )  # fmt: skip
    except jwt.InvalidAudienceError as exc:
        raise GrantError(
            "invalid_grant",
            f"The audience in ID Token {unverified.get('aud')!s:.200} does not match the expected audience.",
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise GrantError("invalid_grant", f"The ID Token lacks the required claim {exc.claim}.") from exc
    except jwt.PyJWTError as exc:
        raise GrantError("invalid_grant", "Invalid ID Token signature.") from exc
    iat, exp, now = claims["iat"], claims["exp"], ctx.issuer.now()
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
        raise GrantError("invalid_grant", "The ID Token's iat and exp must be integers.")
    if exp <= now - _LEEWAY_S:
        raise GrantError("invalid_grant", f"The ID Token expired at {exp}; it is now {int(now)}.")
    if iat > now + _LEEWAY_S or exp - iat > _MAX_LIFETIME_S:
        raise GrantError("invalid_grant", "The ID Token is not yet valid or is valid for more than a day.")
    return claims


async def _signing_key(ctx: EmulatorContext, provider: WorkloadProvider, kid: object) -> Any:
    """The issuer's public key ``kid``: from the emulator's own issuer, the inline JWKS, or the issuer's JWKS URI."""
    own_prefix = f"{ctx.base_url}/oidc/"
    if provider.issuer_uri.startswith(own_prefix):
        name = provider.issuer_uri.removeprefix(own_prefix)
        key = None
        if ISSUER_NAME.match(name) and isinstance(kid, str):
            key = issuer_keys(ctx.store.folder, name).public_key(kid)
        if key is None:
            raise GrantError("invalid_grant", "Invalid ID Token signature: no key of the issuer has that kid.")
        return key
    jwks = provider.jwks_json or await _fetch_jwks(provider.issuer_uri)
    try:
        keys = jwt.PyJWKSet.from_json(jwks)
        return next(k.key for k in keys.keys if k.key_id == kid or (kid is None and len(keys.keys) == 1))
    except (jwt.PyJWTError, ValueError, StopIteration) as exc:
        raise GrantError("invalid_grant", "Invalid ID Token signature: no key of the issuer has that kid.") from exc


async def _fetch_jwks(issuer_uri: str) -> str:
    """The issuer's JWKS through its discovery document, as Google fetches it (bounded in time and size)."""
    try:
        async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT_S, follow_redirects=False) as client:
            discovery = await _get_json(client, issuer_uri.rstrip("/") + "/.well-known/openid-configuration")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise GrantError("invalid_grant", "Error connecting to the given credential's issuer.")
            return json.dumps(await _get_json(client, jwks_uri))
    except (httpx.HTTPError, ValueError) as exc:
        # Google's words (cloud.google.com/iam/docs/troubleshooting-workload-identity-federation).
        raise GrantError("invalid_grant", "Error connecting to the given credential's issuer.") from exc


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_FETCH_BYTES:
                raise ValueError("document too large")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data
