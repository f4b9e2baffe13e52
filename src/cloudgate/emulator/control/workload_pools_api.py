"""The IAM API's workload identity pools and OIDC providers, as ``gcloud iam workload-identity-pools`` calls them.

Under ``/iam`` (``api_endpoint_overrides/iam``), with ``P`` the project id or number and pools in ``global``:

- ``POST|GET /v1/projects/P/locations/global/workloadIdentityPools[?workloadIdentityPoolId=ID]``: create / list
- ``GET|DELETE /v1/projects/P/locations/global/workloadIdentityPools/POOL``
- ``POST|GET .../workloadIdentityPools/POOL/providers[?workloadIdentityPoolProviderId=ID]``: create
  (``{"oidc": {"issuerUri", "allowedAudiences", "jwksJson"}, "attributeMapping", "attributeCondition"}``) / list
- ``GET|DELETE .../workloadIdentityPools/POOL/providers/PROVIDER``
- ``GET .../operations/OP``: every change is done at once, so its operation is answered done.

Creating answers a done long-running operation whose ``response`` is the resource, as Google does. Names use the
project number. Ids are 4-32 lowercase letters, digits and dashes (``gcp-`` is Google's); an existing id is
``409 ALREADY_EXISTS``. The attribute mapping must map ``google.subject`` and, with the condition, be valid CEL
(``400 INVALID_ARGUMENT`` otherwise).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.federation import POOL_ID, pool_name
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import State, WorkloadPool, WorkloadProvider
from cloudgate.emulator.identity.workload_attributes import MappingError, check_condition, check_mapping

logger = logging.getLogger(__name__)

_POOLS = "/v1/projects/{project}/locations/global/workloadIdentityPools"
_MAX_JWKS_CHARS = 64 * 1024


def _pool_json(state: State, pool_id: str, pool: WorkloadPool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "name": pool_name(state.project_number, pool_id),
        "state": "ACTIVE",
        "mode": "FEDERATION_ONLY",
    }
    if pool.display_name:
        answer["displayName"] = pool.display_name
    if pool.description:
        answer["description"] = pool.description
    if pool.disabled:
        answer["disabled"] = True
    return answer


def _provider_json(state: State, pool_id: str, provider_id: str, provider: WorkloadProvider) -> dict[str, Any]:
    oidc: dict[str, Any] = {"issuerUri": provider.issuer_uri}
    if provider.allowed_audiences:
        oidc["allowedAudiences"] = list(provider.allowed_audiences)
    if provider.jwks_json:
        oidc["jwksJson"] = provider.jwks_json
    answer: dict[str, Any] = {
        "name": f"{pool_name(state.project_number, pool_id)}/providers/{provider_id}",
        "state": "ACTIVE",
        "attributeMapping": dict(provider.attribute_mapping),
        "oidc": oidc,
    }
    if provider.attribute_condition:
        answer["attributeCondition"] = provider.attribute_condition
    for key, value in (("displayName", provider.display_name), ("description", provider.description)):
        if value:
            answer[key] = value
    if provider.disabled:
        answer["disabled"] = True
    return answer


def _done(name: str, response: dict[str, Any], kind: str) -> dict[str, Any]:
    """A finished long-running operation carrying the created resource."""
    response = {"@type": f"type.googleapis.com/google.iam.v1.{kind}", **response}
    return {"name": f"{name}/operations/{secrets.token_hex(8)}", "done": True, "response": response}


def _text(body: dict[str, Any], key: str, limit: int = 256) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, f"Invalid value for {key}: a string of at most {limit} characters.")
    return value


def _new_provider(body: dict[str, Any]) -> WorkloadProvider:
    oidc = body.get("oidc")
    if not isinstance(oidc, dict) or not isinstance(oidc.get("issuerUri"), str) or not oidc["issuerUri"]:
        raise ApiError(400, "The emulator makes OIDC providers only: oidc.issuerUri is required.")
    mapping = body.get("attributeMapping") or {}
    audiences = oidc.get("allowedAudiences") or []
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ApiError(400, "attributeMapping must map attribute names to CEL expressions.")
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences) or len(audiences) > 10:
        raise ApiError(400, "oidc.allowedAudiences must be a list of at most 10 strings.")
    jwks = oidc.get("jwksJson", "")
    if not isinstance(jwks, str) or len(jwks) > _MAX_JWKS_CHARS or (jwks and not _is_jwks(jwks)):
        raise ApiError(400, "oidc.jwksJson must be a JWKS document of at most 64 KiB.")
    condition = _text(body, "attributeCondition", 4096)
    try:
        check_mapping(mapping)
        check_condition(condition)
    except MappingError as exc:
        raise ApiError(400, str(exc)) from exc
    return WorkloadProvider(
        issuer_uri=_text(oidc, "issuerUri", 2048),
        attribute_mapping=dict(mapping),
        attribute_condition=condition,
        allowed_audiences=list(audiences),
        jwks_json=jwks,
        display_name=_text(body, "displayName", 32),
        description=_text(body, "description"),
        disabled=bool(body.get("disabled", False)),
    )


def _is_jwks(text: str) -> bool:
    try:
        return bool(jwt.PyJWKSet.from_json(text).keys)
    except (jwt.PyJWTError, ValueError):
        return False


def workload_pool_routes(ctx: EmulatorContext) -> list[Route]:
    """The workload identity pool routes (mounted under ``/iam`` beside ``iam_admin_api``'s)."""

    def checked(request: Request, permission: str) -> State:
        member = caller(ctx, request)
        state = ctx.store.current()
        project = request.path_params["project"]
        if project not in (state.project_id, state.project_number):
            raise ApiError(404, f"Project {project} not found.")
        require(state, member, permission, f"projects/{project}")
        return state

    def find_pool(state: State, pool_id: str) -> WorkloadPool:
        pool = state.workload_pools.get(pool_id)
        if pool is None:
            raise ApiError(404, f"Requested entity was not found: {pool_name(state.project_number, pool_id)}.")
        return pool

    async def pools(request: Request) -> Response:
        if request.method == "GET":
            state = checked(request, "iam.workloadIdentityPools.list")
            listed = [_pool_json(state, i, p) for i, p in sorted(state.workload_pools.items())]
            return JSONResponse({"workloadIdentityPools": listed} if listed else {})
        body = await read_json(request)
        state = checked(request, "iam.workloadIdentityPools.create")
        pool_id = request.query_params.get("workloadIdentityPoolId", "")
        if not POOL_ID.match(pool_id):
            raise ApiError(400, f"Invalid workload identity pool id {pool_id!r}: 4-32 of [a-z0-9-], not gcp-.")
        if pool_id in state.workload_pools:
            raise ApiError(409, f"Requested entity already exists: {pool_name(state.project_number, pool_id)}.")
        pool = WorkloadPool(
            display_name=_text(body, "displayName", 32),
            description=_text(body, "description"),
            disabled=bool(body.get("disabled", False)),
        )
        with ctx.store.edit() as current:
            current.workload_pools[pool_id] = pool
        logger.info("workload identity pool %s created", pool_id)
        return JSONResponse(
            _done(pool_name(state.project_number, pool_id), _pool_json(state, pool_id, pool), "WorkloadIdentityPool")
        )

    async def pool(request: Request) -> Response:
        pool_id = request.path_params["pool"]
        if request.method == "GET":
            state = checked(request, "iam.workloadIdentityPools.get")
            return JSONResponse(_pool_json(state, pool_id, find_pool(state, pool_id)))
        state = checked(request, "iam.workloadIdentityPools.delete")
        find_pool(state, pool_id)
        with ctx.store.edit() as current:
            del current.workload_pools[pool_id]
        logger.info("workload identity pool %s deleted", pool_id)
        return JSONResponse(_done(pool_name(state.project_number, pool_id), {}, "WorkloadIdentityPool"))

    async def providers(request: Request) -> Response:
        pool_id = request.path_params["pool"]
        if request.method == "GET":
            state = checked(request, "iam.workloadIdentityPoolProviders.list")
            found = find_pool(state, pool_id).providers
            listed = [_provider_json(state, pool_id, i, p) for i, p in sorted(found.items())]
            return JSONResponse({"workloadIdentityPoolProviders": listed} if listed else {})
        body = await read_json(request)
        state = checked(request, "iam.workloadIdentityPoolProviders.create")
        find_pool(state, pool_id)
        provider_id = request.query_params.get("workloadIdentityPoolProviderId", "")
        name = f"{pool_name(state.project_number, pool_id)}/providers/{provider_id}"
        if not POOL_ID.match(provider_id):
            raise ApiError(400, f"Invalid provider id {provider_id!r}: 4-32 of [a-z0-9-], not gcp-.")
        provider = _new_provider(body)
        with ctx.store.edit() as current:
            target = find_pool(current, pool_id).providers
            if provider_id in target:
                raise ApiError(409, f"Requested entity already exists: {name}.")
            target[provider_id] = provider
        logger.info("workload identity pool provider %s created (issuer %s)", name, provider.issuer_uri)
        answer = _provider_json(state, pool_id, provider_id, provider)
        return JSONResponse(_done(name, answer, "WorkloadIdentityPoolProvider"))

    async def provider(request: Request) -> Response:
        pool_id, provider_id = request.path_params["pool"], request.path_params["provider"]
        permission = "get" if request.method == "GET" else "delete"
        state = checked(request, f"iam.workloadIdentityPoolProviders.{permission}")
        found = find_pool(state, pool_id).providers.get(provider_id)
        name = f"{pool_name(state.project_number, pool_id)}/providers/{provider_id}"
        if found is None:
            raise ApiError(404, f"Requested entity was not found: {name}.")
        if request.method == "GET":
            return JSONResponse(_provider_json(state, pool_id, provider_id, found))
        with ctx.store.edit() as current:
            del current.workload_pools[pool_id].providers[provider_id]
        return JSONResponse(_done(name, {}, "WorkloadIdentityPoolProvider"))

    async def operation(request: Request) -> Response:
        checked(request, "iam.workloadIdentityPools.get")
        return JSONResponse({"name": request.url.path.split("/v1/", 1)[-1], "done": True})

    return [
        Route(_POOLS, pools, methods=["GET", "POST"]),
        Route(_POOLS + "/{pool}", pool, methods=["GET", "DELETE"]),
        Route(_POOLS + "/{pool}/providers", providers, methods=["GET", "POST"]),
        Route(_POOLS + "/{pool}/providers/{provider}", provider, methods=["GET", "DELETE"]),
        Route(_POOLS + "/{pool}/{rest:path}/operations/{op}", operation, methods=["GET"]),
        Route(_POOLS + "/{pool}/operations/{op}", operation, methods=["GET"]),
    ]
