"""Reading a Cloud Run service as gcloud prints it (``gcloud run services describe --format=json``).

The shape is the Knative-style v1 ``Service`` of gcloud's own client
(``lib/googlecloudsdk/generated_clients/apis/run/v1/run_v1_messages.py``): ``metadata.annotations``,
``spec.template.metadata.annotations``, ``spec.template.spec.{serviceAccountName, containers, volumes,
containerConcurrency, timeoutSeconds}``, ``status.{url, conditions, latestReadyRevisionName}``. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

INGRESS = "run.googleapis.com/ingress"
INVOKER_IAM_DISABLED = "run.googleapis.com/invoker-iam-disabled"
CUSTOM_AUDIENCES = "run.googleapis.com/custom-audiences"
#: ``gcloud beta run deploy --iap`` sets it to ``"true"``, ``--no-iap`` removes it (gcloud's ``api_lib/run/service.py``).
IAP_ENABLED = "run.googleapis.com/iap-enabled"
LOCATION_LABEL = "cloud.googleapis.com/location"
MIN_SCALE = "autoscaling.knative.dev/minScale"
MAX_SCALE = "autoscaling.knative.dev/maxScale"
#: gcloud names the container port ``h2c`` for ``--use-http2`` (``command_lib/run/config_changes.py``).
HTTP2_PORT_NAME = "h2c"

Json = dict[str, Any]


@dataclass(frozen=True)
class SecretRef:
    """A Secret Manager secret used by the revision: as a file at ``path`` or as env var ``env``."""

    secret: str
    version: str
    path: str | None = None
    env: str | None = None


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def name(service: Json) -> str:
    return str(_dict(service.get("metadata")).get("name") or "")


def location(service: Json) -> str | None:
    """The region, from the label gcloud's list prints as REGION (``cloud.googleapis.com/location``)."""
    value = _dict(_dict(service.get("metadata")).get("labels")).get(LOCATION_LABEL)
    return str(value) if value else None


def service_annotations(service: Json) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(_dict(service.get("metadata")).get("annotations")).items()}


def template_annotations(service: Json) -> dict[str, str]:
    template = _dict(_dict(service.get("spec")).get("template"))
    return {str(k): str(v) for k, v in _dict(_dict(template.get("metadata")).get("annotations")).items()}


def revision_spec(service: Json) -> Json:
    return _dict(_dict(_dict(service.get("spec")).get("template")).get("spec"))


def containers(service: Json) -> list[Json]:
    """Every container of the revision, in the order given (``--container`` order: a sidecar may come first)."""
    return [_dict(box) for box in _list(revision_spec(service).get("containers"))]


def revision_containers(revision: Json) -> list[Json]:
    """Every container of a revision as ``gcloud run revisions describe --format=json`` prints it."""
    return [_dict(box) for box in _list(_dict(revision.get("spec")).get("containers"))]


def ingress_index(service: Json) -> int:
    """Where the serving container stands: the one with a port (sidecars have none), else the first. gcloud's
    own rule (``api_lib/run/container_resource.py``: flags without ``--container`` change that one)."""
    return next((i for i, box in enumerate(containers(service)) if box.get("ports")), 0)


def container(service: Json) -> Json:
    """The serving (ingress) container."""
    boxes = containers(service)
    return boxes[ingress_index(service)] if boxes else {}


def container_label(box: Json, index: int) -> str:
    """How a finding names a container: its name, or its position when it has none."""
    return str(box.get("name") or f"#{index + 1}")


def container_flag(service: Json, index: int) -> str:
    """`` --container=NAME`` for a gcloud command that changes container ``index``; empty for the serving one,
    which gcloud changes when no ``--container`` is given. Put it just before that container's flags: gcloud
    reads every flag after it as that container's."""
    if index == ingress_index(service):
        return ""
    return f" --container={shlex.quote(container_label(containers(service)[index], index))}"


def literal_env(box: Json) -> dict[str, str]:
    """One container's environment variables with literal values (secret references excluded)."""
    found = {}
    for entry in map(_dict, _list(box.get("env"))):
        if "valueFrom" not in entry and entry.get("name"):
            found[str(entry["name"])] = str(entry.get("value", ""))
    return found


def arguments(box: Json) -> list[str]:
    """One container's ``command`` and ``args``, in order."""
    return [str(a) for a in (*_list(box.get("command")), *_list(box.get("args")))]


def image(service: Json) -> str | None:
    value = container(service).get("image")
    return str(value) if value else None


def service_account(service: Json) -> str | None:
    """The runtime account; ``None`` means Cloud Run's default, the Compute Engine default account."""
    value = revision_spec(service).get("serviceAccountName")
    return str(value) if value else None


def plain_env(service: Json) -> dict[str, str]:
    """The serving container's environment variables with literal values (secret references excluded)."""
    return literal_env(container(service))


def secret_refs(service: Json, box: Json | None = None) -> list[SecretRef]:
    """Every secret a container (default: the serving one) uses, as mounted files and as env vars."""
    box = container(service) if box is None else box
    refs = []
    for entry in _list(box.get("env")):
        selector = _dict(_dict(_dict(entry).get("valueFrom")).get("secretKeyRef"))
        if selector:
            refs.append(SecretRef(str(selector.get("name")), str(selector.get("key", "latest")), env=entry.get("name")))
    volumes = {
        str(v.get("name")): _dict(v.get("secret")) for v in map(_dict, _list(revision_spec(service).get("volumes")))
    }
    for mount in map(_dict, _list(box.get("volumeMounts"))):
        source = volumes.get(str(mount.get("name")))
        if not source:
            continue
        folder = str(mount.get("mountPath", "")).rstrip("/")
        items = [_dict(item) for item in _list(source.get("items"))]
        name = str(source.get("secretName"))
        if not items:  # no items: the whole secret, latest version, as a file named after it
            refs.append(SecretRef(name, "latest", path=f"{folder}/{name}"))
        for item in items:
            refs.append(SecretRef(name, str(item.get("key", "latest")), path=f"{folder}/{item.get('path')}"))
    return refs


def limits(service: Json) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(_dict(container(service).get("resources")).get("limits")).items()}


def uses_http2(service: Json) -> bool:
    return any(_dict(port).get("name") == HTTP2_PORT_NAME for port in _list(container(service).get("ports")))


def custom_audiences(service: Json) -> list[str]:
    raw = service_annotations(service).get(CUSTOM_AUDIENCES)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return [raw]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def iam_check_disabled(service: Json) -> bool:
    return service_annotations(service).get(INVOKER_IAM_DISABLED, "").lower() == "true"


def iap_enabled(service: Json) -> bool:
    """Identity-Aware Proxy directly on the service (``--iap``)."""
    return service_annotations(service).get(IAP_ENABLED, "").lower() == "true"


def ingress(service: Json) -> str:
    """``all`` (the default when unset), ``internal`` or ``internal-and-cloud-load-balancing``."""
    status = service_annotations(service).get(f"{INGRESS}-status")
    return status or service_annotations(service).get(INGRESS) or "all"


def traffic_on_latest(service: Json) -> bool:
    """Whether every share of ``spec.traffic`` follows the latest revision; ``update-traffic --to-revisions`` pins
    it to named ones, and then ``gcloud run deploy`` keeps the pin (the new revision serves 0%)."""
    routes = [route for route in map(_dict, _list(_dict(service.get("spec")).get("traffic"))) if route.get("percent")]
    return all(route.get("latestRevision") for route in routes)


@dataclass(frozen=True)
class OlderRevision:
    """A revision other than the latest that traffic still reaches: a share of the traffic, or a tag's own URL."""

    name: str
    percent: int
    tags: tuple[str, ...]

    def how(self) -> str:
        """``serves 100% of the traffic``, ``tag debug``, or both."""
        parts = [f"serves {self.percent}% of the traffic"] if self.percent else []
        parts += [f"tag {tag}" for tag in self.tags]
        return ", ".join(parts)


def older_revisions(service: Json) -> list[OlderRevision]:
    """Revisions in ``status.traffic`` other than the latest created one (the template): their own env and
    containers, not the template's, are what those requests reach."""
    status = _dict(service.get("status"))
    latest = status.get("latestCreatedRevisionName")
    percent: dict[str, int] = {}
    tags: dict[str, list[str]] = {}
    for route in map(_dict, _list(status.get("traffic"))):
        revision = route.get("revisionName")
        if not revision or revision == latest or route.get("latestRevision"):
            continue
        percent[str(revision)] = percent.get(str(revision), 0) + int(route.get("percent") or 0)
        tags.setdefault(str(revision), []).extend([str(route["tag"])] if route.get("tag") else [])
    return [OlderRevision(name, share, tuple(tags[name])) for name, share in percent.items()]


def url(service: Json) -> str | None:
    value = _dict(service.get("status")).get("url")
    return str(value) if value else None


def not_ready_reason(service: Json) -> str | None:
    """``None`` when the ``Ready`` condition is ``True``; otherwise what the condition says."""
    for condition in map(_dict, _list(_dict(service.get("status")).get("conditions"))):
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return None
            return str(condition.get("message") or f"Ready is {condition.get('status')}")
    return "no Ready condition"


def policy_bindings(policy: Json) -> list[tuple[str, str]]:
    """Every ``(role, member)`` pair of an IAM policy, conditional bindings included, in a stable order."""
    pairs: set[tuple[str, str]] = set()
    for binding in map(_dict, _list(policy.get("bindings"))):
        pairs.update((str(binding.get("role")), str(m)) for m in _list(binding.get("members")))
    return sorted(pairs)


def policy_members(policy: Json, role: str) -> set[str]:
    """Members holding ``role`` in an IAM policy (``get-iam-policy --format=json``); conditional bindings count."""
    members: set[str] = set()
    for binding in map(_dict, _list(policy.get("bindings"))):
        if binding.get("role") == role:
            members.update(str(m) for m in _list(binding.get("members")))
    return members
