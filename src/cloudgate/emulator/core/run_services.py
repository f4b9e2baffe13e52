"""Cloud Run services as Knative objects: validating what gcloud sends, and the status the emulator reports.

gcloud's ``run deploy`` and ``run services update`` send a whole ``serving.knative.dev/v1`` Service (metadata,
``spec.template``, ``spec.traffic``); the emulator keeps metadata and spec as written (``Service.resource``) and
computes ``status`` itself. A changed ``spec.template`` makes a new revision (``NAME-00002-xyz``), as in
Knative; a change of the service's own annotations (custom audiences, ingress, IAM check) does not.

What the front end needs is copied onto the ``Service`` record: the request timeout
(``template.spec.timeoutSeconds``), custom audiences (``run.googleapis.com/custom-audiences``, a JSON list),
``run.googleapis.com/invoker-iam-disabled``, and HTTP/2 (the container port named ``h2c``).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import secrets
import string
import uuid
from typing import Any

from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.state import Service, State
from cloudgate.google import CLOUD_RUN_DEFAULT_TIMEOUT_S, CLOUD_RUN_MAX_TIMEOUT_S

API_VERSION = "serving.knative.dev/v1"
LOCATION_LABEL = "cloud.googleapis.com/location"
AUDIENCES_ANNOTATION = "run.googleapis.com/custom-audiences"
IAM_DISABLED_ANNOTATION = "run.googleapis.com/invoker-iam-disabled"
INGRESS_ANNOTATION = "run.googleapis.com/ingress"
#: The image that makes a revision a local command (``containers[0].command`` + ``args``), for machines
#: without podman: ``gcloud run deploy api --image=cloudgate/local-command --command=python3 --args=-m,app``.
LOCAL_COMMAND_IMAGE = "cloudgate/local-command"
CREATOR = "serving.knative.dev/creator"
LAST_MODIFIER = "serving.knative.dev/lastModifier"
#: How many revisions the emulator remembers per service (Cloud Run keeps up to 1000).
KEPT_REVISIONS = 50
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_INGRESS = ("all", "internal", "internal-and-cloud-load-balancing")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ApiError(
            400,
            f"metadata.name: Invalid value '{name}': service names must be 1-49 characters of lowercase letters, "
            "digits and dashes, start with a letter and not end with a dash.",
        )
    return name


def validate(body: dict[str, Any], *, project: str, name: str | None = None) -> dict[str, Any]:
    """The Knative Service as the emulator keeps it (metadata + spec), or 400 ``INVALID_ARGUMENT``."""
    metadata = body.get("metadata")
    spec = body.get("spec")
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        raise ApiError(400, "A Service needs 'metadata' and 'spec'.")
    given = check_name(metadata.get("name", name or ""))
    if name is not None and given != name:
        raise ApiError(400, f"metadata.name '{given}' does not match the service in the URL '{name}'.")
    namespace = metadata.get("namespace", project)
    if namespace not in (project, ""):
        raise ApiError(400, f"metadata.namespace must be the project '{project}', not '{namespace}'.")
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        raise ApiError(400, "spec.template.spec is required.")
    containers = template["spec"].get("containers")
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        raise ApiError(400, "spec.template.spec.containers: at least one container is required.")
    image = containers[0].get("image")
    if not isinstance(image, str) or not image:
        raise ApiError(400, "spec.template.spec.containers[0].image: Required value.")
    if image == LOCAL_COMMAND_IMAGE and not containers[0].get("command"):
        raise ApiError(400, f"The image {LOCAL_COMMAND_IMAGE} runs containers[0].command: give --command.")
    timeout = template["spec"].get("timeoutSeconds", CLOUD_RUN_DEFAULT_TIMEOUT_S)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= CLOUD_RUN_MAX_TIMEOUT_S:
        raise ApiError(400, f"spec.template.spec.timeoutSeconds: must be from 1 to {CLOUD_RUN_MAX_TIMEOUT_S}.")
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise ApiError(400, "metadata.annotations must map strings to strings.")
    if annotations.get(INGRESS_ANNOTATION, "all") not in _INGRESS:
        raise ApiError(400, f"{INGRESS_ANNOTATION} must be one of {', '.join(_INGRESS)}.")
    audiences(annotations)
    kept_metadata = {
        key: copy.deepcopy(metadata[key]) for key in ("annotations", "labels") if isinstance(metadata.get(key), dict)
    }
    return {"metadata": {"name": given, "namespace": project, **kept_metadata}, "spec": copy.deepcopy(spec)}


def audiences(annotations: dict[str, str]) -> list[str]:
    """The custom audiences of a service's annotations (a JSON list of strings)."""
    raw = annotations.get(AUDIENCES_ANNOTATION)
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"{AUDIENCES_ANNOTATION} must be a JSON list of strings.") from exc
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise ApiError(400, f"{AUDIENCES_ANNOTATION} must be a JSON list of strings.")
    return value


def apply(
    state: State, name: str, region: str, resource: dict[str, Any], *, url: str, modifier: str = ""
) -> tuple[Service, bool]:
    """Create or replace service ``name``; returns it and whether its template changed (a new revision).

    ``modifier`` (the caller's email) is recorded as Cloud Run does, in ``serving.knative.dev/creator`` and
    ``serving.knative.dev/lastModifier`` (gcloud's LAST DEPLOYED BY column).
    """
    existing = state.services.get(name)
    service = existing or Service(url=url)
    previous = service.resource
    service.region = region
    metadata = resource["metadata"]
    annotations = metadata.setdefault("annotations", {})
    labels = metadata.setdefault("labels", {})
    labels[LOCATION_LABEL] = region
    if modifier:
        annotations[LAST_MODIFIER] = modifier
        creator = previous["metadata"].get("annotations", {}).get(CREATOR) if previous else None
        annotations[CREATOR] = creator or modifier
    template = resource["spec"]["template"]
    changed = not previous or _comparable(previous["spec"]["template"]) != _comparable(template)
    spec_changed = not previous or previous["spec"] != resource["spec"] or _meta(previous) != _meta(resource)
    if previous:
        metadata["uid"] = previous["metadata"]["uid"]
        metadata["creationTimestamp"] = previous["metadata"]["creationTimestamp"]
        metadata["generation"] = previous["metadata"]["generation"] + (1 if spec_changed else 0)
    else:
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
    if changed:
        service.revision_count += 1
        given = (template.get("metadata") or {}).get("name")
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3))
        revision = given or f"{name}-{service.revision_count:05d}-{suffix}"
        if not revision.startswith(name + "-"):
            raise ApiError(400, f"spec.template.metadata.name must start with '{name}-'.")
        service.status = {**service.status, "latestCreatedRevisionName": revision}
        _record_revision(service, revision, template, metadata["generation"])
    service.resource = resource
    service.audiences = audiences(annotations)
    service.invoker_iam_check = annotations.get(IAM_DISABLED_ANNOTATION, "false").lower() != "true"
    service.timeout_seconds = float(template["spec"].get("timeoutSeconds", CLOUD_RUN_DEFAULT_TIMEOUT_S))
    ports = template["spec"]["containers"][0].get("ports") or []
    service.http2 = any(isinstance(p, dict) and p.get("name") == "h2c" for p in ports)
    service.url = existing.url if existing else url
    state.services[name] = service
    if changed:
        mark_deploying(service)
    else:
        mark_settled(service)
    return service, changed


def _record_revision(service: Service, revision: str, template: dict[str, Any], generation: int) -> None:
    meta = template.get("metadata") or {}
    service.revisions[revision] = {
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
        "spec": copy.deepcopy(template["spec"]),
        "creationTimestamp": now_rfc3339(),
        "uid": str(uuid.uuid4()),
        "configurationGeneration": generation,
        "ready": "Unknown",
        "message": "",
    }
    for old in list(service.revisions)[:-KEPT_REVISIONS]:
        del service.revisions[old]


def _set_revision(service: Service, revision: str, ready: str, message: str = "") -> None:
    if revision in service.revisions:
        service.revisions[revision].update(ready=ready, message=message)


def revision_json(state: State, name: str, revision: str) -> dict[str, Any]:
    """A Knative Revision as ``GET .../revisions/NAME`` answers it."""
    service = state.services[name]
    record = service.revisions[revision]
    labels = {
        **record["labels"],
        "serving.knative.dev/service": name,
        "serving.knative.dev/configuration": name,
        "serving.knative.dev/configurationGeneration": str(record["configurationGeneration"]),
        "serving.knative.dev/route": name,
        LOCATION_LABEL: service.region,
    }
    condition = {"type": "Ready", "status": record["ready"], "lastTransitionTime": record["creationTimestamp"]}
    if record["message"]:
        condition["message"] = record["message"]
    return {
        "apiVersion": API_VERSION,
        "kind": "Revision",
        "metadata": {
            "name": revision,
            "namespace": state.project_number,
            "labels": labels,
            "annotations": record["annotations"],
            "creationTimestamp": record["creationTimestamp"],
            "generation": 1,
            "uid": record["uid"],
        },
        "spec": copy.deepcopy(record["spec"]),
        "status": {"conditions": [condition], "observedGeneration": 1},
    }


def matches(labels: dict[str, str], selector: str) -> bool:
    """Whether ``labels`` satisfy a Kubernetes equality selector (``a = b, c=d``)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or key.endswith("!") or labels.get(key.strip()) != value.lstrip("=").strip():
            return False
    return True


def _comparable(template: dict[str, Any]) -> Any:
    # A template that names no revision compares equal to the one the emulator named.
    body = copy.deepcopy(template)
    (body.get("metadata") or {}).pop("name", None)
    return body


def _meta(resource: dict[str, Any]) -> Any:
    metadata = resource["metadata"]
    return (metadata.get("annotations"), metadata.get("labels"))


def _condition(kind: str, status: str, message: str = "", reason: str = "") -> dict[str, Any]:
    condition = {"type": kind, "status": status, "lastTransitionTime": now_rfc3339()}
    if message:
        condition["message"] = message
    if reason:
        condition["reason"] = reason
    return condition


def mark_deploying(service: Service) -> None:
    """The newest revision is starting: Ready ``Unknown`` (gcloud keeps polling)."""
    revision = service.status.get("latestCreatedRevisionName", "")
    message = f"Revision '{revision}' is waiting for its instance to listen."
    service.status.update(
        conditions=[
            _condition("Ready", "Unknown", message, "Deploying"),
            _condition("ConfigurationsReady", "Unknown", message, "Deploying"),
            _condition("RoutesReady", "Unknown", message, "Deploying"),
        ],
        observedGeneration=service.resource["metadata"]["generation"],
    )


def mark_ready(service: Service, revision: str) -> None:
    """``revision`` listens and takes all traffic."""
    service.status["latestReadyRevisionName"] = revision
    _set_revision(service, revision, "True")
    mark_settled(service)


def mark_settled(service: Service) -> None:
    """A change without a new revision: the serving revision keeps the traffic, Ready as it was.

    While the newest revision is still starting, or after it failed, only ``observedGeneration`` moves.
    """
    serving = service.status.get("latestReadyRevisionName")
    service.status["observedGeneration"] = service.resource["metadata"]["generation"]
    if service.status.get("latestCreatedRevisionName") != serving:
        return
    service.status["conditions"] = [
        _condition(kind, "True") for kind in ("Ready", "ConfigurationsReady", "RoutesReady")
    ]
    service.status["traffic"] = [{"revisionName": serving, "percent": 100, "latestRevision": True}]


def mark_failed(service: Service, revision: str, message: str) -> None:
    """``revision`` could not start: Ready ``False`` with Cloud Run's message; the previous one keeps serving."""
    text = f"Revision '{revision}' is not ready and cannot serve traffic. {message}"
    _set_revision(service, revision, "False", text)
    service.status.update(
        conditions=[
            _condition("Ready", "False", text, "RevisionFailed"),
            _condition("ConfigurationsReady", "False", text, "RevisionFailed"),
            _condition("RoutesReady", "True" if service.status.get("latestReadyRevisionName") else "False"),
        ],
        observedGeneration=service.resource["metadata"]["generation"],
    )


def knative(state: State, name: str) -> dict[str, Any]:
    """The Service as the v1 API answers it (``apiVersion``, ``kind``, metadata, spec, status)."""
    service = state.services[name]
    resource = copy.deepcopy(service.resource)
    metadata = resource["metadata"]
    metadata["selfLink"] = f"/apis/{API_VERSION}/namespaces/{state.project_number}/services/{name}"
    metadata["resourceVersion"] = str(metadata.get("generation", 1))
    status = copy.deepcopy(service.status)
    status.update(url=service.url, address={"url": service.url})
    if "traffic" in status:
        for target in status["traffic"]:
            target.setdefault("percent", 100)
    return {"apiVersion": API_VERSION, "kind": "Service", **resource, "status": status}
