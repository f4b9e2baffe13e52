"""Cloud Run Admin API v2, read-only: the same services as the v1 API (``run_api.py``), in v2's shape.

google-cloud-run's ``ServicesClient`` (and the v2 REST API) read services as ``projects/P/locations/L/services/S``
with fields of their own (``template.containers``, ``terminalCondition``, ``uri``, ...). There is one Cloud Run
model in the emulator: these routes translate each recorded Knative Service (``run_services.knative_json``) into
that shape, following Google's v1-to-v2 field mapping (cloud.google.com/run/docs/reference/rest/v2/projects.locations.services);
nothing is kept twice. Under ``/run``:

- ``GET /v2/projects/{project}/locations/{location}/services`` (``-``: every region) -> ``{"services": [...]}``
- ``GET /v2/projects/{project}/locations/{location}/services/{name}``

Changes (create, update, delete, IAM) go through the v1 API, as gcloud makes them; v2 writes are not emulated.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate import knative
from cloudgate.emulator.control.api_errors import caller
from cloudgate.emulator.core import run_services
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import State, service_key

_SERVICES = "/v2/projects/{project}/locations/{location}/services"
_INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
_STATE = {"True": "CONDITION_SUCCEEDED", "False": "CONDITION_FAILED", "Unknown": "CONDITION_RECONCILING"}
#: Annotations and labels that v2 shows as fields, or not at all (Google's system keys).
_SYSTEM_PREFIXES = (
    "run.googleapis.com/",
    "serving.knative.dev/",
    "autoscaling.knative.dev/",
    "cloud.googleapis.com/",
    "client.knative.dev/",
)
_SCALE = {
    "autoscaling.knative.dev/minScale": "minInstanceCount",
    "autoscaling.knative.dev/maxScale": "maxInstanceCount",
}


def _user_keys(values: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (values or {}).items() if not k.startswith(_SYSTEM_PREFIXES)}


def _condition(raw: dict[str, Any]) -> dict[str, Any]:
    answer = {"type": raw["type"], "state": _STATE.get(raw.get("status", ""), "STATE_UNSPECIFIED")}
    # v2's reasons are enums of Google's failure kinds: the v1 free-text reason is left out, its message kept.
    answer.update({key: raw[key] for key in ("message", "lastTransitionTime") if raw.get(key)})
    return answer


def _env(raw: dict[str, Any]) -> dict[str, Any]:
    secret = (raw.get("valueFrom") or {}).get("secretKeyRef")
    if secret:
        return {
            "name": raw["name"],
            "valueSource": {"secretKeyRef": {"secret": secret["name"], "version": secret["key"]}},
        }
    return {"name": raw["name"], "value": raw.get("value", "")}


def _container(raw: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {key: raw[key] for key in ("name", "image", "command", "args") if raw.get(key)}
    answer["env"] = [_env(item) for item in raw.get("env") or []]
    answer["resources"] = {"limits": dict((raw.get("resources") or {}).get("limits") or {})}
    answer["ports"] = [{"name": p.get("name", ""), "containerPort": p["containerPort"]} for p in raw.get("ports") or []]
    return answer


def _traffic(raw: dict[str, Any], revision_names: bool) -> dict[str, Any]:
    latest = raw.get("latestRevision") and not revision_names
    answer: dict[str, Any] = {
        "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" if latest else "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
        "percent": raw.get("percent", 0),
    }
    if not latest and raw.get("revisionName"):
        answer["revision"] = raw["revisionName"]
    for key in ("tag", "url"):
        if raw.get(key):
            answer["uri" if key == "url" else key] = raw[key]
    return answer


def v2_service(resource: dict[str, Any], project: str) -> dict[str, Any]:
    """A v1 Knative Service (as ``run_services.knative_json`` answers it) in Cloud Run Admin API v2's shape."""
    metadata, spec, status = resource["metadata"], resource["spec"], resource.get("status") or {}
    region = metadata["labels"][knative.LOCATION_LABEL]
    parent = f"projects/{project}/locations/{region}"
    annotations = metadata.get("annotations") or {}
    template, template_meta = spec["template"]["spec"], spec["template"].get("metadata") or {}
    template_annotations = template_meta.get("annotations") or {}
    conditions = [_condition(c) for c in status.get("conditions") or []]
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    answer: dict[str, Any] = {
        "name": f"{parent}/services/{metadata['name']}",
        "uid": metadata["uid"],
        "generation": str(metadata.get("generation", 1)),
        "labels": _user_keys(metadata.get("labels")),
        "annotations": _user_keys(annotations),
        "createTime": metadata.get("creationTimestamp"),
        "creator": annotations.get("serving.knative.dev/creator", ""),
        "lastModifier": annotations.get("serving.knative.dev/lastModifier", ""),
        "ingress": _INGRESS.get(annotations.get(knative.INGRESS, "all"), "INGRESS_TRAFFIC_ALL"),
        "launchStage": "GA",
        "template": {
            "labels": _user_keys(template_meta.get("labels")),
            "annotations": _user_keys(template_annotations),
            "scaling": {_SCALE[k]: int(v) for k, v in template_annotations.items() if k in _SCALE},
            "serviceAccount": template.get("serviceAccountName", ""),
            "timeout": f"{template.get('timeoutSeconds', 300)}s",
            "maxInstanceRequestConcurrency": template.get("containerConcurrency", 80),
            "containers": [_container(c) for c in template.get("containers") or []],
        },
        "traffic": [_traffic(t, revision_names=False) for t in spec.get("traffic") or []],
        "observedGeneration": str(status.get("observedGeneration", 0)),
        "conditions": [c for c in conditions if c["type"] != "Ready"],
        "trafficStatuses": [_traffic(t, revision_names=True) for t in status.get("traffic") or []],
        "uri": status.get("url", ""),
        "urls": [status["url"]] if status.get("url") else [],
        "reconciling": ready is None or ready["state"] == "CONDITION_RECONCILING",
    }
    if annotations.get(knative.IAP_ENABLED, "").lower() == "true":
        answer["iapEnabled"] = True  # v2's field for IAP directly on the service (false is left out, as proto3 JSON)
    if template_meta.get("name"):
        answer["template"]["revision"] = template_meta["name"]
    if ready is not None:
        answer["terminalCondition"] = ready
    for field, source in (
        ("latestReadyRevision", "latestReadyRevisionName"),
        ("latestCreatedRevision", "latestCreatedRevisionName"),
    ):
        if status.get(source):
            answer[field] = f"{parent}/revisions/{status[source]}"
    return answer


def run_v2_routes(ctx: EmulatorContext) -> list[Route]:
    """The v2 read routes (mounted under ``/run`` beside ``run_routes``)."""

    def checked(request: Request, permission: str, name: str) -> State:
        member = caller(ctx, request)
        state = ctx.store.current()
        project, location = request.path_params["project"], request.path_params["location"]
        if project not in (state.project_id, state.project_number):
            raise ApiError(403, f"Permission denied on resource project {project}.")
        require(state, member, permission, f"projects/{state.project_id}/locations/{location}/services/{name}")
        return state

    async def services(request: Request) -> Response:
        location = request.path_params["location"]
        state = checked(request, "run.services.list", "-")
        listed = [
            v2_service(run_services.knative_json(state, key), state.project_id)
            for key, record in sorted(state.services.items())
            if record.resource and location in ("-", record.region)
        ]
        return JSONResponse({"services": listed} if listed else {})

    async def service(request: Request) -> Response:
        name, location = request.path_params["name"], request.path_params["location"]
        state = checked(request, "run.services.get", name)
        key = service_key(location, name)
        record = state.services.get(key)
        if record is None or not record.resource or record.region != location:
            raise ApiError(404, f"Resource '{name}' of kind 'SERVICE' in region '{location}' in project "
                           f"'{state.project_id}' does not exist.")  # fmt: skip
        return JSONResponse(v2_service(run_services.knative_json(state, key), state.project_id))

    return [
        Route(_SERVICES, services, methods=["GET"]),
        Route(_SERVICES + "/{name}", service, methods=["GET"]),
    ]
