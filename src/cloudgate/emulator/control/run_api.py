"""The Cloud Run admin API as gcloud calls it, under ``/run`` on the emulator (``api_endpoint_overrides/run``).

Knative-style v1 on the regional host (gcloud derives ``REGION-HOST`` and reaches it through the emulator as
its HTTP proxy; ``gateway.py`` puts the region in the scope):

- ``GET|POST /apis/serving.knative.dev/v1/namespaces/{project}/services``: list (this region) / create
- ``GET|PUT|DELETE /apis/serving.knative.dev/v1/namespaces/{project}/services/{name}``
- ``GET /apis/serving.knative.dev/v1/namespaces/{project}/revisions`` (``labelSelector``) and
  ``GET|DELETE .../revisions/{name}`` (a revision that traffic references is not deleted: 400
  ``FAILED_PRECONDITION``)

v1 on the global host:

- ``GET /v1/projects/{project}/locations/{location}/services`` (``-``: every region) -> ``{"items": [...]}``
- ``GET|POST /v1/projects/{project}/locations/{location}/services/{name}:getIamPolicy`` / ``:setIamPolicy``
  (etags; ``409 ABORTED`` on a stale one) and ``:testIamPermissions``

Create and replace check the Service synchronously (``cloudgate.knative``: 400 ``INVALID_ARGUMENT``, nothing
changed; a reused revision name with another template: 409) and answer at once with ``Ready=Unknown`` when a
revision starts or traffic moves; the runtime (``serving/revisions.py``) does it in the background and the polled
``GET`` shows ``Ready=True``, or ``Ready=False`` with the reason.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate import knative
from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json, set_policy
from cloudgate.emulator.core import run_services
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import allowed, require, require_act_as
from cloudgate.emulator.core.state import DEFAULT_REGION, State, service_key

logger = logging.getLogger(__name__)

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


def _get(state: State, name: str, region: str) -> str:
    """The key of service ``name`` of ``region`` (``service_key``), or 404 as Cloud Run words it."""
    key = service_key(region, name)
    service = state.services.get(key)
    if service is None or not service.resource or service.region != region:
        raise ApiError(404, f"Resource '{name}' of kind 'SERVICE' in region '{region}' in project "
                       f"'{state.project_id}' does not exist.")  # fmt: skip
    return key


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
                run_services.knative_json(state, key)
                for key, service in sorted(state.services.items())
                if service.resource and service.region == region
            ]
            return JSONResponse(
                {"apiVersion": run_services.API_VERSION, "kind": "ServiceList", "items": items, "metadata": {}}
            )
        body = await read_json(request)
        name = run_services.check_name((body.get("metadata") or {}).get("name", ""))
        state = checked(request, "run.services.create", name)
        parsed = run_services.parse(state, body)
        key = service_key(region, name)
        if key in state.services and state.services[key].resource:
            raise ApiError(409, f"Resource '{name}' already exists.")
        return _apply(request, key, region, parsed)

    async def service(request: Request) -> Response:
        name, region = request.path_params["name"], _region(request)
        if request.method == "GET":
            state = checked(request, "run.services.get", name)
            return JSONResponse(run_services.knative_json(state, _get(state, name, region)))
        if request.method == "DELETE":
            state = checked(request, "run.services.delete", name)
            key = _get(state, name, region)
            with ctx.store.edit() as current:
                removed = current.services.pop(key)
                current.etags.pop(f"services/{key}", None)
                current.iap_bindings.pop(key, None)  # IAP's policy goes with the service
                current.etags.pop(f"iap_web/{key}", None)
            if ctx.runtime is not None:
                ctx.runtime.remove(key)
            logger.info("service %s deleted", name)
            uid = removed.resource["metadata"]["uid"]
            return JSONResponse(
                {"apiVersion": "v1", "kind": "Status", "status": "Success", "details": {"name": name, "uid": uid}}
            )
        body = await read_json(request)
        state = checked(request, "run.services.update", name)
        key = _get(state, name, region)
        return _apply(request, key, region, run_services.parse(state, body, name=name))

    def _apply(request: Request, name: str, region: str, parsed: knative.Service) -> Response:
        # ``name`` is the service's key in the state (``service_key``): its name, or REGION/NAME.
        """Record the service, then have the runtime start its new revision and route its traffic."""
        member = str(request.scope.get("cloudgate.member", ""))
        require_act_as(ctx.store.current(), member, parsed.template.service_account)
        url, tag_urls = "http://127.0.0.1:0", {}
        if ctx.runtime is not None:
            url = ctx.runtime.reserve_url(name)
            tag_urls = {tag: ctx.runtime.reserve_tag_url(name, tag) for tag in parsed.tags}
        with ctx.store.edit() as state:
            run_services.ensure_compute_account(state)
            before = state.services[name].status.get("traffic") if name in state.services else None
            member = str(request.scope.get("cloudgate.member", ""))
            record, changed = run_services.apply(
                state, name, region, parsed, url=url, tag_urls=tag_urls, modifier=member.partition(":")[2]
            )
            moved = changed or record.status.get("traffic") != before
            if changed and ctx.runtime is None:
                run_services.mark_failed(record, record.status["latestCreatedRevisionName"], _NO_RUNTIME)
            elif moved and ctx.runtime is not None:
                run_services.mark_deploying(record)
            else:
                run_services.mark_routed(record)
        if moved and ctx.runtime is not None:
            ctx.runtime.rollout(name)
        logger.info("service %s %s (new revision: %s, traffic moved: %s)", name, request.method, changed, moved)
        return JSONResponse(run_services.knative_json(ctx.store.current(), name))

    async def revisions(request: Request) -> Response:
        state = checked(request, "run.revisions.list")
        region, selector = _region(request), request.query_params.get("labelSelector", "")
        items = []
        for key, service in sorted(state.services.items()):
            if not service.resource or service.region != region:
                continue
            for revision in reversed(service.revisions):
                answer = run_services.revision_json(state, key, revision)
                if run_services.matches(answer["metadata"]["labels"], selector):
                    items.append(answer)
        return JSONResponse(
            {"apiVersion": run_services.API_VERSION, "kind": "RevisionList", "items": items, "metadata": {}}
        )

    async def revision(request: Request) -> Response:
        wanted = request.path_params["name"]
        permission = "run.revisions.delete" if request.method == "DELETE" else "run.revisions.get"
        state = checked(request, permission, wanted)
        owner = next(
            (n for n, s in state.services.items() if wanted in s.revisions and s.region == _region(request)), None
        )
        if owner is None:
            raise ApiError(404, f"Revision '{wanted}' does not exist.")
        if request.method == "GET":
            return JSONResponse(run_services.revision_json(state, owner, wanted))
        if wanted in run_services.referenced_revisions(state.services[owner]):
            raise ApiError(
                400,
                f"Revision '{wanted}' cannot be deleted: it is serving traffic of service '{owner}' (a share or "
                "a tag). Move its traffic and remove its tag first.",
                "FAILED_PRECONDITION",
            )
        with ctx.store.edit() as current:
            uid = current.services[owner].revisions.pop(wanted)["uid"]
        if ctx.runtime is not None:
            ctx.runtime.rollout(owner)  # stops it if it still runs
        logger.info("revision %s of %s deleted", wanted, owner)
        return JSONResponse(
            {"apiVersion": "v1", "kind": "Status", "status": "Success", "details": {"name": wanted, "uid": uid}}
        )

    async def global_services(request: Request) -> Response:
        location = request.path_params["location"]
        state = checked(request, "run.services.list", region=location)
        items = [
            run_services.knative_json(state, key)
            for key, service in sorted(state.services.items())
            if service.resource and location in ("-", service.region)
        ]
        return JSONResponse({"items": items} if items else {})

    async def service_method(request: Request) -> Response:
        target = request.path_params["target"]
        name, _, method = target.partition(":")
        location = request.path_params["location"]
        key = service_key(location, name)
        resource_key = f"services/{key}"
        if method == "getIamPolicy":
            state = checked(request, "run.services.getIamPolicy", name, region=location)
            _get(state, name, location)
            return JSONResponse(policy_json(state, resource_key, state.services[key].bindings))
        if method == "setIamPolicy" and request.method == "POST":
            body = await read_json(request)
            state = checked(request, "run.services.setIamPolicy", name, region=location)
            _get(state, name, location)
            with ctx.store.edit() as current:
                set_policy(current, resource_key, current.services[key].bindings, body.get("policy"))
                answer = policy_json(current, resource_key, current.services[key].bindings)
            logger.info("IAM policy of service %s set", name)
            return JSONResponse(answer)
        if method == "testIamPermissions" and request.method == "POST":
            body = await read_json(request)
            member = caller(ctx, request)
            state = ctx.store.current()
            wanted = [p for p in body.get("permissions", []) if isinstance(p, str)]
            key = f"services/{service_key(location, name)}"
            granted = [p for p in wanted if allowed(state, member, p, key)]
            return JSONResponse({"permissions": granted} if granted else {})
        if not method and request.method == "GET":
            state = checked(request, "run.services.get", name, region=location)
            return JSONResponse(run_services.knative_json(state, _get(state, name, location)))
        raise ApiError(404, f"Method '{method or request.method}' is not supported by the emulator.", "NOT_FOUND")

    return [
        Route(_KNATIVE, services, methods=["GET", "POST"]),
        Route(_KNATIVE + "/{name}", service, methods=["GET", "PUT", "DELETE"]),
        Route(_REVISIONS, revisions, methods=["GET"]),
        Route(_REVISIONS + "/{name}", revision, methods=["GET", "DELETE"]),
        Route("/v1/projects/{project}/locations/{location}/services", global_services, methods=["GET"]),
        Route("/v1/projects/{project}/locations/{location}/services/{target}", service_method, methods=["GET", "POST"]),
    ]
