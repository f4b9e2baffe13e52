"""Cloud Run services as the admin API keeps them: the record of each service, its revisions and its status.

gcloud's ``run deploy``, ``run services update`` and ``update-traffic`` send a whole ``serving.knative.dev/v1``
Service. ``parse`` checks it once with ``cloudgate.knative`` (400 ``INVALID_ARGUMENT``, nothing changed) and fills
Google's defaults; ``apply`` records it: a changed ``spec.template`` makes a new revision (``NAME-00002-xyz``, or
the name gcloud asked for, 409 if that name exists with another template), a change of the service's own
annotations or of ``spec.traffic`` does not. The emulator computes ``status`` itself: ``status.traffic`` is
``spec.traffic`` resolved (``latestRevision`` is the latest ready revision), each tag with its own URL.

What the front end needs is copied onto the ``Service`` record: the request timeout, custom audiences,
``run.googleapis.com/invoker-iam-disabled``, and HTTP/2 (the container port named ``h2c``).
"""

from __future__ import annotations

import copy
import datetime
import secrets
import string
import uuid
from typing import Any

from cloudgate import knative
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.state import Account, Service, State, new_unique_id
from cloudgate.errors import InvalidResourceError

API_VERSION = knative.API_VERSION
LOCATION_LABEL = knative.LOCATION_LABEL
#: How many revisions the emulator remembers per service (Cloud Run keeps up to 1000).
KEPT_REVISIONS = 50
_COMPUTE_ACCOUNT_NAME = "Compute Engine default service account"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(name: object) -> str:
    """A service name as Cloud Run allows it, or 400 ``INVALID_ARGUMENT``."""
    try:
        return knative.check_service_name(name)
    except InvalidResourceError as exc:
        raise ApiError(400, str(exc)) from exc


def parse(state: State, body: dict[str, Any], *, name: str | None = None) -> knative.Service:
    """The Service in ``body`` checked as Cloud Run checks it (400 ``INVALID_ARGUMENT``), defaults filled."""
    try:
        return knative.Service.from_json(
            body, project_id=state.project_id, project_number=state.project_number, name=name
        )
    except InvalidResourceError as exc:
        raise ApiError(400, str(exc)) from exc


def view(record: Service) -> knative.Service:
    """The typed view of a recorded service (its resource was checked when it was written)."""
    return knative.Service.from_json(
        record.resource, project_id="", project_number=record.resource["metadata"]["namespace"]
    )


def revision_template(record: Service, revision: str) -> knative.RevisionTemplate:
    """The typed template of one recorded revision."""
    kept = record.revisions[revision]
    template = {"metadata": {"name": revision, "labels": kept["labels"], "annotations": kept["annotations"]},
                "spec": kept["spec"]}  # fmt: skip
    return knative.RevisionTemplate.from_json(template, service_name=record.resource["metadata"]["name"])


def ensure_compute_account(state: State) -> str:
    """The Compute Engine default account exists, with Editor on the project, as in a project with Compute on."""
    email = knative.compute_account(state.project_number)
    if email not in state.accounts:
        state.accounts[email] = Account(unique_id=new_unique_id(), display_name=_COMPUTE_ACCOUNT_NAME)
        editors = state.project_bindings.setdefault("roles/editor", [])
        if f"serviceAccount:{email}" not in editors:
            editors.append(f"serviceAccount:{email}")
    return email


def apply(
    state: State,
    key: str,
    region: str,
    service: knative.Service,
    *,
    url: str,
    tag_urls: dict[str, str] | None = None,
    modifier: str = "",
) -> tuple[Service, bool]:
    """Create or replace the service kept at ``key`` (``state.service_key``); returns its record and whether a new
    revision was made.

    ``modifier`` (the caller's email) is recorded as Cloud Run does, in ``serving.knative.dev/creator`` and
    ``serving.knative.dev/lastModifier`` (gcloud's LAST DEPLOYED BY column), and on a new revision as its creator.
    """
    existing = state.services.get(key)
    record = existing or Service(url=url)
    previous = record.resource
    resource = service.to_json()
    metadata = resource["metadata"]
    annotations = metadata.setdefault("annotations", {})
    metadata.setdefault("labels", {})[LOCATION_LABEL] = region
    if modifier:
        annotations[knative.LAST_MODIFIER] = modifier
        creator = previous["metadata"].get("annotations", {}).get(knative.CREATOR) if previous else None
        annotations[knative.CREATOR] = creator or modifier
    template = resource["spec"]["template"]
    revision = _new_revision(record, service.name, service.template.name, template)
    _check_traffic(record, service, revision)
    spec_changed = not previous or previous["spec"] != resource["spec"] or _meta(previous) != _meta(resource)
    if previous:
        metadata["uid"] = previous["metadata"]["uid"]
        metadata["creationTimestamp"] = previous["metadata"]["creationTimestamp"]
        metadata["generation"] = previous["metadata"]["generation"] + (1 if spec_changed else 0)
    else:
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
    if revision is not None:
        record.revision_count += 1
        record.status = {**record.status, "latestCreatedRevisionName": revision}
        _record_revision(record, revision, template, metadata["generation"], modifier)
    record.resource = resource
    record.region = region
    record.audiences = list(service.audiences)
    record.invoker_iam_check = service.invoker_iam_check
    record.iap = service.iap_enabled
    record.timeout_seconds = float(service.template.timeout_seconds)
    record.http2 = service.template.container.http2
    record.tag_urls.update(tag_urls or {})
    state.services[key] = record
    refresh_traffic(record)
    return record, revision is not None


def _new_revision(record: Service, name: str, asked: str, template: dict[str, Any]) -> str | None:
    """The name of the revision this template makes, or ``None`` when it is an existing one's."""
    if asked and asked in record.revisions:
        if _comparable(_kept_template(record, asked)) != _comparable(template):
            raise ApiError(409, f"Revision named '{asked}' with different configuration already exists.")
        return None
    if not asked and record.resource and _comparable(record.resource["spec"]["template"]) == _comparable(template):
        return None
    if asked:
        return asked
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3))
    return f"{name}-{record.revision_count + 1:05d}-{suffix}"


def _check_traffic(record: Service, service: knative.Service, new_revision: str | None) -> None:
    known = set(record.revisions) | ({new_revision} if new_revision else set())
    for target in service.traffic:
        if target.revision is not None and target.revision not in known:
            raise ApiError(400, f"spec.traffic: Revision '{target.revision}' referenced in traffic not found.")


def _kept_template(record: Service, revision: str) -> dict[str, Any]:
    kept = record.revisions[revision]
    return {"metadata": {"labels": kept["labels"], "annotations": kept["annotations"]}, "spec": kept["spec"]}


def _record_revision(record: Service, revision: str, template: dict[str, Any], generation: int, creator: str) -> None:
    meta = template.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    if creator:
        annotations[knative.CREATOR] = creator
    record.revisions[revision] = {
        "labels": dict(meta.get("labels") or {}),
        "annotations": annotations,
        "spec": copy.deepcopy(template["spec"]),
        "creationTimestamp": now_rfc3339(),
        "uid": str(uuid.uuid4()),
        "configurationGeneration": generation,
        "ready": "Unknown",
        "message": "",
    }
    serving = {r.revision for r in view(record).routes("")} if record.resource else set()
    for old in list(record.revisions)[:-KEPT_REVISIONS]:
        if old not in serving:
            del record.revisions[old]


def refresh_traffic(record: Service) -> None:
    """``status.traffic``: ``spec.traffic`` resolved against the latest ready revision, tags with their URLs."""
    ready = record.status.get("latestReadyRevisionName", "")
    routes = view(record).routes(ready)
    record.status["traffic"] = [route.to_json(record.tag_urls.get(route.tag, "")) for route in routes]


def serving_revisions(record: Service) -> dict[str, int]:
    """Revision -> its share of the service URL's requests (only revisions with a share)."""
    shares: dict[str, int] = {}
    for target in record.status.get("traffic", []):
        if target.get("percent"):
            shares[target["revisionName"]] = shares.get(target["revisionName"], 0) + int(target["percent"])
    return shares


def referenced_revisions(record: Service) -> set[str]:
    """Every revision ``spec.traffic`` names (by share or tag), the latest ready one for ``latestRevision``."""
    return {route.revision for route in view(record).routes(record.status.get("latestReadyRevisionName", ""))}


def _set_revision(record: Service, revision: str, ready: str, message: str = "") -> None:
    if revision in record.revisions:
        record.revisions[revision].update(ready=ready, message=message)


def revision_json(state: State, key: str, revision: str) -> dict[str, Any]:
    """A Knative Revision as ``GET .../revisions/NAME`` answers it: ``Active`` while it has a share of traffic."""
    service = state.services[key]
    name = service.resource["metadata"]["name"]
    record = service.revisions[revision]
    labels = {
        **record["labels"],
        "serving.knative.dev/service": name,
        "serving.knative.dev/configuration": name,
        "serving.knative.dev/configurationGeneration": str(record["configurationGeneration"]),
        "serving.knative.dev/route": name,
        LOCATION_LABEL: service.region,
    }
    ready = {"type": "Ready", "status": record["ready"], "lastTransitionTime": record["creationTimestamp"]}
    if record["message"]:
        ready["message"] = record["message"]
    if revision in serving_revisions(service):
        active = _condition("Active", "True")
    else:
        active = _condition("Active", "False", "The target is not receiving traffic.", "NoTraffic")
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
        "status": {"conditions": [ready, active], "observedGeneration": 1},
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
    meta = body.get("metadata") or {}
    meta.pop("name", None)
    body["metadata"] = {k: v for k, v in meta.items() if v}
    annotations = body["metadata"].get("annotations")
    if annotations:
        annotations.pop(knative.CREATOR, None)
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
    """A new revision starts, or traffic moves: Ready ``Unknown`` until the runtime has done it (gcloud polls)."""
    revision = service.status.get("latestCreatedRevisionName", "")
    message = f"Revision '{revision}' is waiting for its instance to listen."
    service.status.update(
        conditions=[
            _condition("Ready", "Unknown", message, "Deploying"),
            _condition("ConfigurationsReady", "Unknown", message, "Deploying"),
            _condition("RoutesReady", "Unknown", "Traffic is being routed.", "Deploying"),
        ],
        observedGeneration=service.resource["metadata"]["generation"],
    )


def mark_ready(service: Service, revision: str) -> None:
    """``revision`` listens: it is the latest ready one (``latestRevision`` targets move to it)."""
    service.status["latestReadyRevisionName"] = revision
    _set_revision(service, revision, "True")
    refresh_traffic(service)


def mark_routed(service: Service) -> None:
    """The running revisions match ``status.traffic``: Ready, unless the newest revision failed."""
    refresh_traffic(service)
    service.status["observedGeneration"] = service.resource["metadata"]["generation"]
    newest = service.status.get("latestCreatedRevisionName")
    if newest and service.revisions.get(newest, {}).get("ready") in ("False", "Unknown"):
        return  # failed (its Ready=False stays), or still starting (its own rollout marks it)
    service.status["conditions"] = [
        _condition(kind, "True") for kind in ("Ready", "ConfigurationsReady", "RoutesReady")
    ]


def mark_failed(service: Service, revision: str, message: str) -> None:
    """``revision`` could not start: Ready ``False`` with Cloud Run's message; the traffic stays where it was."""
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


def knative_json(state: State, key: str) -> dict[str, Any]:
    """The Service as the v1 API answers it (``apiVersion``, ``kind``, metadata, spec, status)."""
    service = state.services[key]
    resource = copy.deepcopy(service.resource)
    metadata = resource["metadata"]
    metadata["selfLink"] = f"/apis/{API_VERSION}/namespaces/{state.project_number}/services/{metadata['name']}"
    metadata["resourceVersion"] = str(metadata.get("generation", 1))
    status = copy.deepcopy(service.status)
    status.update(url=service.url, address={"url": service.url})
    return {"apiVersion": API_VERSION, "kind": "Service", **resource, "status": status}
