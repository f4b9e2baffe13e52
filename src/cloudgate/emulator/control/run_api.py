"""The Cloud Run admin API as gcloud calls it, under ``/run`` on the emulator (``api_endpoint_overrides/run``).

Knative-style v1 on the regional host (gcloud derives ``REGION-HOST`` and reaches it through the emulator as
its HTTP proxy; ``gateway.py`` puts the region in the scope):

- ``GET|POST /apis/serving.knative.dev/v1/namespaces/{project}/services``: list (this region) / create
- ``GET|PUT|DELETE /apis/serving.knative.dev/v1/namespaces/{project}/services/{name}``

v1 on the global host:

- ``GET /v1/projects/{project}/locations/{location}/services`` (``-``: every region) -> ``{"items": [...]}``
- ``GET|POST /v1/projects/{project}/locations/{location}/services/{name}:getIamPolicy`` / ``:setIamPolicy``
  (etags; ``409 ABORTED`` on a stale one) and ``:testIamPermissions``

Create and replace answer at once with ``Ready=Unknown``; the revision starts in the background
(``revisions.py``) and the polled ``GET`` shows ``Ready=True`` or ``Ready=False`` with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json, set_policy
from cloudgate.emulator.core import run_services
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import allowed, require, require_act_as
from cloudgate.emulator.core.state import State

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-central1"
_KNATIVE = "/apis/serving.knative.dev/v1/namespaces/{namespace}/services"
_REVISIONS = "/apis/serving.knative.dev/v1/namespaces/{namespace}/revisions"
_NO_RUNTIME = "this emulator runs no revisions (it was started without a revision runtime)"


def _region(request: Request) -> str:
    region = request.scope.get("cloudgate.region")
    return region if isinstance(region, str) else DEFAULT_REGION


def _project(state: State, given: str) -> None:
    if given not in (state.project_id, state.project_number):
        raise ApiError(403, f"Permission denied on resource project {given} (the emulator's is {state.project_id}).")


def _resource(state: State, region: str, name: str) -> str:
    return f"projects/{state.project_id}/locations/{region}/services/{name}"


def _get(state: State, name: str, region: str | None) -> None:
    service = state.services.get(name)
    if service is None or not service.resource or (region is not None and service.region != region):
        raise ApiError(404, f"Resource '{name}' of kind 'SERVICE' in region '{region}' in project "
                       f"'{state.project_id}' does not exist.")  # fmt: skip


def run_routes(ctx: EmulatorContext) -> list[Route]:
    """The Cloud Run admin routes (mounted under ``/run``)."""

    def checked(request: Request, permission: str, name: str = "", *, region: str | None = None) -> State:
        member = caller(ctx, request)
        request.scope["cloudgate.member"] = member
        state = ctx.store.current()
        _project(state, request.path_params.get("namespace") or request.path_params.get("project", ""))
        require(state, member, permission, _resource(state, region or _region(request), name or "-"))
        return state

    async def services(request: Request) -> Response:
        region = _region(request)
        if request.method == "GET":
            state = checked(request, "run.services.list")
            items = [
                run_services.knative(state, name)
                for name, service in sorted(state.services.items())
                if service.resource and service.region == region
            ]
            return JSONResponse(
                {"apiVersion": run_services.API_VERSION, "kind": "ServiceList", "items": items, "metadata": {}}
            )
        body = await read_json(request)
        name = run_services.check_name(str((body.get("metadata") or {}).get("name", "")))
        state = checked(request, "run.services.create", name)
        resource = run_services.validate(body, project=state.project_id)
        if name in state.services and state.services[name].resource:
            raise ApiError(409, f"Resource '{name}' already exists.")
        return _apply(request, name, region, resource)

    async def service(request: Request) -> Response:
        name, region = request.path_params["name"], _region(request)
        if request.method == "GET":
            state = checked(request, "run.services.get", name)
            _get(state, name, region)
            return JSONResponse(run_services.knative(state, name))
        if request.method == "DELETE":
            state = checked(request, "run.services.delete", name)
            _get(state, name, region)
            with ctx.store.edit() as current:
                removed = current.services.pop(name)
                current.etags.pop(f"services/{name}", None)
            if ctx.runtime is not None:
                ctx.runtime.remove(name)
            logger.info("service %s deleted", name)
            uid = removed.resource["metadata"]["uid"]
            return JSONResponse(
                {"apiVersion": "v1", "kind": "Status", "status": "Success", "details": {"name": name, "uid": uid}}
            )
        body = await read_json(request)
        state = checked(request, "run.services.update", name)
        _get(state, name, region)
        resource = run_services.validate(body, project=state.project_id, name=name)
        return _apply(request, name, region, resource)

    def _apply(request: Request, name: str, region: str, resource: dict[str, Any]) -> Response:
        template = ((resource.get("spec") or {}).get("template") or {}).get("spec") or {}
        require_act_as(
            ctx.store.current(), str(request.scope["cloudgate.member"]), template.get("serviceAccountName", "")
        )
        url = "http://127.0.0.1:0"
        if ctx.runtime is not None:
            url = ctx.runtime.reserve_url(name)
        with ctx.store.edit() as state:
            member = str(request.scope.get("cloudgate.member", ""))
            modifier = member.partition(":")[2]
            record, changed = run_services.apply(state, name, region, resource, url=url, modifier=modifier)
            if changed and ctx.runtime is None:
                run_services.mark_failed(record, record.status["latestCreatedRevisionName"], _NO_RUNTIME)
        if changed and ctx.runtime is not None:
            ctx.runtime.rollout(name)
        logger.info("service %s %s (new revision: %s)", name, request.method, changed)
        return JSONResponse(run_services.knative(ctx.store.current(), name))

    async def revisions(request: Request) -> Response:
        state = checked(request, "run.revisions.list")
        region, selector = _region(request), request.query_params.get("labelSelector", "")
        items = []
        for name, service in sorted(state.services.items()):
            if not service.resource or service.region != region:
                continue
            for revision in reversed(service.revisions):
                answer = run_services.revision_json(state, name, revision)
                if run_services.matches(answer["metadata"]["labels"], selector):
                    items.append(answer)
        return JSONResponse(
            {"apiVersion": run_services.API_VERSION, "kind": "RevisionList", "items": items, "metadata": {}}
        )

    async def revision(request: Request) -> Response:
        wanted = request.path_params["name"]
        state = checked(request, "run.revisions.get", wanted)
        for name, service in state.services.items():
            if wanted in service.revisions and service.region == _region(request):
                return JSONResponse(run_services.revision_json(state, name, wanted))
        raise ApiError(404, f"Revision '{wanted}' does not exist.")

    async def global_services(request: Request) -> Response:
        location = request.path_params["location"]
        state = checked(request, "run.services.list", region=location)
        items = [
            run_services.knative(state, name)
            for name, service in sorted(state.services.items())
            if service.resource and location in ("-", service.region)
        ]
        return JSONResponse({"items": items} if items else {})

    async def service_method(request: Request) -> Response:
        target = request.path_params["target"]
        name, _, method = target.partition(":")
        location = request.path_params["location"]
        resource_key = f"services/{name}"
        if method == "getIamPolicy":
            state = checked(request, "run.services.getIamPolicy", name, region=location)
            _get(state, name, location)
            return JSONResponse(policy_json(state, resource_key, state.services[name].bindings))
        if method == "setIamPolicy" and request.method == "POST":
            body = await read_json(request)
            state = checked(request, "run.services.setIamPolicy", name, region=location)
            _get(state, name, location)
            with ctx.store.edit() as current:
                set_policy(current, resource_key, current.services[name].bindings, body.get("policy"))
                answer = policy_json(current, resource_key, current.services[name].bindings)
            logger.info("IAM policy of service %s set", name)
            return JSONResponse(answer)
        if method == "testIamPermissions" and request.method == "POST":
            body = await read_json(request)
            member = caller(ctx, request)
            state = ctx.store.current()
            wanted = [p for p in body.get("permissions", []) if isinstance(p, str)]
            granted = [p for p in wanted if allowed(state, member, p, f"services/{name}")]
            return JSONResponse({"permissions": granted} if granted else {})
        if not method and request.method == "GET":
            state = checked(request, "run.services.get", name, region=location)
            _get(state, name, location)
            return JSONResponse(run_services.knative(state, name))
        raise ApiError(404, f"Method '{method or request.method}' is not supported by the emulator.", "NOT_FOUND")

    return [
        Route(_KNATIVE, services, methods=["GET", "POST"]),
        Route(_KNATIVE + "/{name}", service, methods=["GET", "PUT", "DELETE"]),
        Route(_REVISIONS, revisions, methods=["GET"]),
        Route(_REVISIONS + "/{name}", revision, methods=["GET"]),
        Route("/v1/projects/{project}/locations/{location}/services", global_services, methods=["GET"]),
        Route("/v1/projects/{project}/locations/{location}/services/{target}", service_method, methods=["GET", "POST"]),
    ]
