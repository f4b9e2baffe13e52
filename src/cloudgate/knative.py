"""Cloud Run's Knative ``Service`` (admin API v1), parsed once: annotation names, Google's checks, Google's defaults.

``gcloud run deploy`` and ``gcloud run services update`` send a whole ``serving.knative.dev/v1`` Service. Cloud Run
checks it synchronously (a bad one is answered ``400 INVALID_ARGUMENT`` and changes nothing) and fills defaults
on the way in. ``Service.from_json`` does both: it raises ``InvalidResourceError`` (``field`` and Google's
message) or returns a frozen view whose ``raw`` is the resource with Google's defaults filled, the only dict
kept (to echo the resource back). What Cloud Run checks and fills is listed in ``shared/CLOUD_RUN.md``
("Cloud Run resources"); field names are those of gcloud's client
(``lib/googlecloudsdk/generated_clients/apis/run/v1/run_v1_messages.py``).

Example::

    service = Service.from_json(body, project_id="p", project_number="123")
    service.template.scaling.concurrency  # 80 unless the body says otherwise
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cloudgate.errors import InvalidResourceError
from cloudgate.google import CLOUD_RUN_DEFAULT_CONCURRENCY, CLOUD_RUN_DEFAULT_TIMEOUT_S, CLOUD_RUN_MAX_TIMEOUT_S

Json = dict[str, Any]

API_VERSION = "serving.knative.dev/v1"
#: Labels and annotations Cloud Run reads or writes.
LOCATION_LABEL = "cloud.googleapis.com/location"
INGRESS = "run.googleapis.com/ingress"
INGRESS_STATUS = "run.googleapis.com/ingress-status"
CUSTOM_AUDIENCES = "run.googleapis.com/custom-audiences"
INVOKER_IAM_DISABLED = "run.googleapis.com/invoker-iam-disabled"
#: ``gcloud beta run deploy --iap`` sets it to ``"true"``, ``--no-iap`` removes it (``api_lib/run/service.py``).
IAP_ENABLED = "run.googleapis.com/iap-enabled"
MIN_SCALE = "autoscaling.knative.dev/minScale"
MAX_SCALE = "autoscaling.knative.dev/maxScale"
CREATOR = "serving.knative.dev/creator"
LAST_MODIFIER = "serving.knative.dev/lastModifier"
#: gcloud's label that forces a new revision (``command_lib/run/serverless_operations.py``).
NONCE_LABEL = "client.knative.dev/nonce"
#: gcloud names the container port ``h2c`` for ``--use-http2`` (``command_lib/run/config_changes.py``).
HTTP2_PORT_NAME = "h2c"
#: The image that makes a revision a local command (``containers[0].command`` + ``args``) in the emulator, for
#: machines without podman: ``gcloud run deploy api --image=cloudgate/local-command --command=python3 --args=-m,app``.
LOCAL_COMMAND_IMAGE = "cloudgate/local-command"

#: Cloud Run's defaults (``describe --format export`` of a service deployed without flags).
DEFAULT_CPU = "1000m"
DEFAULT_MEMORY = "512Mi"
DEFAULT_PORT = 8080
DEFAULT_MAX_INSTANCES = 100
#: Cloud Run's default TCP startup probe gives a container 240 s to listen.
DEFAULT_STARTUP_LIMIT_S = 240.0
INGRESS_VALUES = ("all", "internal", "internal-and-cloud-load-balancing")
#: Set by Cloud Run in every instance; a revision may not set them (``reserved env names``).
RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
_MAX_MEMORY = 32 * 1024**3
#: CPU (millicores) -> the memory range it allows; more memory needs more CPU (memory-limits docs).
_MEMORY_BY_CPU = {1000: (128, 4096), 2000: (128, 8192), 4000: (2048, 16384), 6000: (4096, 24576), 8000: (4096, 32768)}
#: Below one CPU: the smallest CPU each memory size needs (memory-limits docs, "Required minimum CPUs").
_FRACTIONAL_CPU = ((128, 83), (256, 167), (512, 333), (1024, 583), (2048, 1000))
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_REVISION_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _fail(field: str, message: str) -> InvalidResourceError:
    return InvalidResourceError(f"{field}: {message}", field=field)


def compute_account(project_number: str) -> str:
    """The Compute Engine default service account: a revision's identity when none is given."""
    return f"{project_number}-compute@developer.gserviceaccount.com"


def check_service_name(name: object) -> str:
    """A service name as Cloud Run allows it: 1-49 lowercase letters, digits and dashes, starting with a letter."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(
            "metadata.name",
            f"Invalid value '{name}': service names must be 1-49 characters of lowercase letters, digits and "
            "dashes, start with a letter and not end with a dash.",
        )
    return name


def cpu_millis(value: object, field: str) -> int:
    """A Kubernetes CPU quantity (``1``, ``0.5``, ``1000m``) in millicores."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) not in (None, "m"):
        raise _fail(field, f"Invalid value specified for cpu: '{value}'.")
    number = float(match.group(1))
    return round(number if match.group(2) == "m" else number * 1000)


def memory_bytes(value: object, field: str) -> int:
    """A Kubernetes memory quantity (``512Mi``, ``2Gi``, ``1G``) in bytes."""
    match = _QUANTITY.match(str(value))
    if match is None or match.group(2) == "m":
        raise _fail(field, f"Invalid value specified for memory: '{value}'.")
    return round(float(match.group(1)) * _UNITS[match.group(2) or ""])


def _dict(value: object, field: str, *, required: bool = False) -> Json:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _fail(field, "Required value." if value is None else "must be an object.")
    return value


def _list(value: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(field, "must be a list.")
    return value


def _strings(value: object, field: str) -> Mapping[str, str]:
    mapping = _dict(value, field)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise _fail(field, "must map strings to strings.")
    return MappingProxyType(dict(mapping))


def _int(value: object, field: str, low: int, high: int, *, what: str = "") -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(field, f"Invalid value: {value!r}: {what or 'must be'} between {low} and {high}, inclusive.")
    return value


@dataclass(frozen=True)
class SecretEnv:
    """An env var resolved from Secret Manager when an instance starts."""

    env: str
    secret: str
    version: str


@dataclass(frozen=True)
class SecretFile:
    """A mounted secret file: ``path`` (absolute, in the container) reads ``secret`` at ``version``."""

    path: str
    mount_path: str
    secret: str
    version: str


@dataclass(frozen=True)
class Scaling:
    """``--min-instances``, ``--max-instances`` (revision annotations) and ``--concurrency``."""

    min_instances: int = 0
    max_instances: int = DEFAULT_MAX_INSTANCES
    concurrency: int = CLOUD_RUN_DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class Container:
    """The serving container of a revision."""

    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secret_env: tuple[SecretEnv, ...]
    secret_files: tuple[SecretFile, ...]
    port: int
    http2: bool
    cpu_millis: int
    memory_bytes: int
    #: How long an instance may take to listen: its startup probe's limit, else Cloud Run's 240 s.
    startup_seconds: float

    @property
    def local_command(self) -> bool:
        return self.image == LOCAL_COMMAND_IMAGE

    @property
    def mount_paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.mount_path for f in self.secret_files))


@dataclass(frozen=True)
class RevisionTemplate:
    """``spec.template``: what a revision is made of (immutable once a revision has it)."""

    #: The revision name asked for (``--revision-suffix``, or gcloud's own ``NAME-00002-xyz``); ``""``: any.
    name: str
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    container: Container
    scaling: Scaling
    timeout_seconds: int
    service_account: str

    @classmethod
    def from_json(cls, raw: Json, *, service_name: str) -> RevisionTemplate:
        field = "spec.template"
        metadata = _dict(raw.get("metadata"), f"{field}.metadata")
        name = metadata.get("name") or ""
        if name and (not isinstance(name, str) or not _REVISION_NAME.match(name)):
            raise _fail(f"{field}.metadata.name", f"Invalid value '{name}': not a valid revision name.")
        if name and not name.startswith(service_name + "-"):
            raise _fail(f"{field}.metadata.name", f"Revision name must be prefixed by '{service_name}-'.")
        annotations = _strings(metadata.get("annotations"), f"{field}.metadata.annotations")
        spec = _dict(raw.get("spec"), f"{field}.spec", required=True)
        concurrency = _int(spec.get("containerConcurrency", CLOUD_RUN_DEFAULT_CONCURRENCY),
                           f"{field}.spec.containerConcurrency", 0, 1000)  # fmt: skip
        timeout = _int(spec.get("timeoutSeconds", CLOUD_RUN_DEFAULT_TIMEOUT_S),
                       f"{field}.spec.timeoutSeconds", 1, CLOUD_RUN_MAX_TIMEOUT_S)  # fmt: skip
        scaling = _scaling(annotations, concurrency or CLOUD_RUN_DEFAULT_CONCURRENCY, field)
        account = spec.get("serviceAccountName", "")
        if not isinstance(account, str):
            raise _fail(f"{field}.spec.serviceAccountName", "must be a string.")
        container = _container(spec, scaling.concurrency, f"{field}.spec")
        return cls(
            name=name,
            annotations=annotations,
            labels=_strings(metadata.get("labels"), f"{field}.metadata.labels"),
            container=container,
            scaling=scaling,
            timeout_seconds=timeout,
            service_account=account,
        )


def _scaling(annotations: Mapping[str, str], concurrency: int, field: str) -> Scaling:
    where = f"{field}.metadata.annotations"
    low = _int(annotations.get(MIN_SCALE, "0"), f"{where}[{MIN_SCALE}]", 0, 1000)
    high = _int(annotations.get(MAX_SCALE, str(DEFAULT_MAX_INSTANCES)), f"{where}[{MAX_SCALE}]", 1, 1000,
                what="max instances must be")  # fmt: skip
    if low > high:
        raise _fail(
            f"{where}[{MIN_SCALE}]",
            f"Invalid value: {low}: min instances ({low}) must be less than or equal to max instances ({high}).",
        )
    return Scaling(low, high, concurrency)


def _container(spec: Json, concurrency: int, field: str) -> Container:
    containers = _list(spec.get("containers"), f"{field}.containers")
    if not containers:
        raise _fail(f"{field}.containers", "Required value: at least one container is required.")
    index = _ingress_index(containers)
    where = f"{field}.containers[{index}]"
    raw = _dict(containers[index], where, required=True)
    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise _fail(f"{where}.image", "Required value.")
    command = tuple(str(a) for a in _list(raw.get("command"), f"{where}.command"))
    if image == LOCAL_COMMAND_IMAGE and not command:
        raise _fail(f"{where}.command", f"The image {LOCAL_COMMAND_IMAGE} runs containers[0].command: give --command.")
    env, secret_env = _env(raw, where)
    ports = _list(raw.get("ports"), f"{where}.ports")
    port = _dict(ports[0], f"{where}.ports[0]") if ports else {}
    limits = _dict(_dict(raw.get("resources"), f"{where}.resources").get("limits"), f"{where}.resources.limits")
    cpu = cpu_millis(limits.get("cpu", DEFAULT_CPU), f"{where}.resources.limits.cpu")
    memory = memory_bytes(limits.get("memory", DEFAULT_MEMORY), f"{where}.resources.limits.memory")
    _check_cpu_and_memory(cpu, memory, concurrency, f"{where}.resources.limits")
    return Container(
        image=image,
        command=command,
        args=tuple(str(a) for a in _list(raw.get("args"), f"{where}.args")),
        env=env,
        secret_env=secret_env,
        secret_files=_secret_files(spec, raw, field, where),
        port=_int(port.get("containerPort", DEFAULT_PORT), f"{where}.ports[0].containerPort", 1, 65535),
        http2=port.get("name") == HTTP2_PORT_NAME,
        cpu_millis=cpu,
        memory_bytes=memory,
        startup_seconds=_startup_limit(raw.get("startupProbe"), f"{where}.startupProbe"),
    )


def _ingress_index(containers: list[Any]) -> int:
    """The ingress container: the one with a port (sidecars have none; gcloud's ``--port`` picks it, sidecars may
    come first); with one container, that one. Google's defaults (port, limits) go to it, never to a sidecar."""
    return next((i for i, c in enumerate(containers) if isinstance(c, dict) and c.get("ports")), 0)


def _check_cpu_and_memory(cpu: int, memory: int, concurrency: int, field: str) -> None:
    mib = memory / 2**20
    if cpu < 1000:
        if concurrency > 1:
            raise _fail(f"{field}.cpu", "Invalid value specified for cpu. Total cpu < 1 is not supported with "
                        "concurrency > 1.")  # fmt: skip
        needed = next((need for size, need in _FRACTIONAL_CPU if mib <= size), 1000)
        if cpu < needed or cpu < 80:
            raise _fail(f"{field}.memory", f"Invalid value specified for memory. For {cpu / 1000:g} CPU, memory "
                        f"must be at most {_largest_for(cpu)}Mi.")  # fmt: skip
        return
    if cpu not in _MEMORY_BY_CPU:
        raise _fail(f"{field}.cpu", "Invalid value specified for cpu. For CPU values of 1 or more, cpu must be "
                    "one of 1, 2, 4, 6 or 8.")  # fmt: skip
    low, high = _MEMORY_BY_CPU[cpu]
    if memory > _MAX_MEMORY or not low <= mib <= high:
        raise _fail(
            f"{field}.memory",
            f"Invalid value specified for container memory. For {cpu / 1000:.1f} CPU, memory must be between "
            f"{_size(low)} and {_size(high)} inclusive.",
        )


def _largest_for(cpu: int) -> int:
    fitting = [size for size, need in _FRACTIONAL_CPU if need <= cpu]
    return fitting[-1] if fitting else 0


def _size(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib >= 1024 else f"{mib}Mi"


def _env(raw: Json, where: str) -> tuple[tuple[tuple[str, str], ...], tuple[SecretEnv, ...]]:
    plain: list[tuple[str, str]] = []
    secrets: list[SecretEnv] = []
    for i, item in enumerate(_list(raw.get("env"), f"{where}.env")):
        item = _dict(item, f"{where}.env[{i}]", required=True)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(f"{where}.env[{i}].name", "Required value.")
        ref = _dict(_dict(item.get("valueFrom"), f"{where}.env[{i}].valueFrom").get("secretKeyRef"),
                    f"{where}.env[{i}].valueFrom.secretKeyRef")  # fmt: skip
        if ref:
            secret, key = ref.get("name"), ref.get("key")
            for part, value in (("name", secret), ("key", key)):
                if not isinstance(value, str) or not value:
                    raise _fail(f"{where}.env[{i}].valueFrom.secretKeyRef.{part}", "Required value.")
            secrets.append(SecretEnv(name, str(secret), str(key)))
        else:
            plain.append((name, str(item.get("value", ""))))
    reserved = [name for name, _ in plain if name in RESERVED_ENV] + [s.env for s in secrets if s.env in RESERVED_ENV]
    if reserved:
        raise _fail(f"{where}.env", f"The following reserved env names were provided: {', '.join(reserved)}. "
                    "These values are automatically set by the system.")  # fmt: skip
    return tuple(plain), tuple(secrets)


def _secret_files(spec: Json, raw: Json, field: str, where: str) -> tuple[SecretFile, ...]:
    volumes: dict[str, Json] = {}
    for i, volume in enumerate(_list(spec.get("volumes"), f"{field}.volumes")):
        volume = _dict(volume, f"{field}.volumes[{i}]", required=True)
        volumes[str(volume.get("name"))] = volume
    files: list[SecretFile] = []
    for i, mount in enumerate(_list(raw.get("volumeMounts"), f"{where}.volumeMounts")):
        mount = _dict(mount, f"{where}.volumeMounts[{i}]", required=True)
        path = mount.get("mountPath")
        if not isinstance(path, str) or not path.startswith("/"):
            raise _fail(f"{where}.volumeMounts[{i}].mountPath", "must be an absolute path.")
        volume = volumes.get(str(mount.get("name")))
        if volume is None:
            raise _fail(f"{where}.volumeMounts[{i}].name", f"Volume '{mount.get('name')}' is not defined.")
        secret = _dict(volume.get("secret"), f"{field}.volumes.secret")
        if not secret:
            continue  # an in-memory or other volume: nothing to resolve
        name = secret.get("secretName")
        if not isinstance(name, str) or not name:
            raise _fail(f"{field}.volumes.secret.secretName", "Required value.")
        items = _list(secret.get("items"), f"{field}.volumes.secret.items") or [{"key": "latest", "path": name}]
        for item in items:
            item = _dict(item, f"{field}.volumes.secret.items", required=True)
            key, file = item.get("key"), item.get("path")
            if not isinstance(key, str) or not key or not isinstance(file, str) or not file or ".." in file:
                raise _fail(f"{field}.volumes.secret.items", "each item needs a 'key' and a relative 'path'.")
            files.append(SecretFile(f"{path.rstrip('/')}/{file}", path, name, key))
    return tuple(files)


def _startup_limit(probe: object, field: str) -> float:
    if probe is None:
        return DEFAULT_STARTUP_LIMIT_S
    probe = _dict(probe, field)
    delay = _int(probe.get("initialDelaySeconds", 0), f"{field}.initialDelaySeconds", 0, 240)
    period = _int(probe.get("periodSeconds", 10), f"{field}.periodSeconds", 1, 240)
    failures = _int(probe.get("failureThreshold", 3), f"{field}.failureThreshold", 1, 1000)
    timeout = _int(probe.get("timeoutSeconds", 1), f"{field}.timeoutSeconds", 1, 240)
    if timeout > period:
        raise _fail(f"{field}.timeoutSeconds", "must be less than or equal to periodSeconds.")
    handlers = [k for k in ("tcpSocket", "httpGet", "grpc") if k in probe]
    if len(handlers) > 1:
        raise _fail(field, "may specify only one of tcpSocket, httpGet or grpc.")
    return float(delay + period * failures)


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of ``spec.traffic``: a revision (``None``: the latest ready one), its percent, its tag."""

    revision: str | None
    percent: int
    tag: str = ""

    def to_json(self) -> Json:
        target: Json = {"latestRevision": True} if self.revision is None else {"revisionName": self.revision}
        if self.percent:
            target["percent"] = self.percent
        if self.tag:
            target["tag"] = self.tag
        return target


@dataclass(frozen=True)
class Route:
    """A resolved traffic target (``status.traffic``): the revision that serves ``percent`` or ``tag``."""

    revision: str
    percent: int
    latest: bool = False
    tag: str = ""

    def to_json(self, url: str = "") -> Json:
        """As ``status.traffic`` lists it; ``url`` is the tag's own URL."""
        target: Json = {"revisionName": self.revision, "percent": self.percent}
        if self.latest:
            target["latestRevision"] = True
        if self.tag:
            target["tag"] = self.tag
            if url:
                target["url"] = url
        return target


def _traffic(raw: object, service_name: str) -> tuple[TrafficTarget, ...]:
    entries = _list(raw, "spec.traffic")
    if not entries:
        return (TrafficTarget(None, 100),)
    targets: list[TrafficTarget] = []
    for i, entry in enumerate(entries):
        field = f"spec.traffic[{i}]"
        entry = _dict(entry, field, required=True)
        revision, latest = entry.get("revisionName") or None, bool(entry.get("latestRevision"))
        if revision is not None and latest:
            raise _fail(field, "may not set revisionName when latestRevision is true.")
        if revision is None and entry.get("latestRevision") is False:
            raise _fail(f"{field}.revisionName", "Required value when latestRevision is false.")
        if revision is not None and (not isinstance(revision, str) or not revision.startswith(service_name + "-")):
            raise _fail(f"{field}.revisionName", f"Invalid value '{revision}': not a revision of '{service_name}'.")
        if entry.get("configurationName") or entry.get("url"):
            raise _fail(field, "configurationName and url may not be set in spec.traffic.")
        tag = entry.get("tag") or ""
        if tag and (not isinstance(tag, str) or not _TAG.match(tag)):
            raise _fail(f"{field}.tag", f"Invalid value '{tag}': tags are lowercase letters, digits and dashes.")
        targets.append(TrafficTarget(revision, _int(entry.get("percent", 0), f"{field}.percent", 0, 100), tag))
    total = sum(t.percent for t in targets)
    if total != 100:
        raise _fail("spec.traffic", f"Traffic targets sum to {total}, want 100.")
    tags = [t.tag for t in targets if t.tag]
    if len(tags) != len(set(tags)):
        raise _fail("spec.traffic", "Multiple definitions for the same tag.")
    return tuple(targets)


def audiences(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """The custom audiences of a service's annotations (a JSON list of strings)."""
    raw = annotations.get(CUSTOM_AUDIENCES)
    if raw is None:
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _fail(f"metadata.annotations[{CUSTOM_AUDIENCES}]", "must be a JSON list of strings.") from exc
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise _fail(f"metadata.annotations[{CUSTOM_AUDIENCES}]", "must be a JSON list of strings.")
    return tuple(value)


@dataclass(frozen=True)
class Service:
    """A Cloud Run service as written by its last create or replace; ``raw`` echoes it, defaults filled."""

    name: str
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    template: RevisionTemplate
    traffic: tuple[TrafficTarget, ...]
    raw: Mapping[str, Any]

    @property
    def ingress(self) -> str:
        return self.annotations.get(INGRESS, "all")

    @property
    def audiences(self) -> tuple[str, ...]:
        return audiences(self.annotations)

    @property
    def invoker_iam_check(self) -> bool:
        return self.annotations.get(INVOKER_IAM_DISABLED, "false").lower() != "true"

    @property
    def iap_enabled(self) -> bool:
        """Identity-Aware Proxy directly on the service (``--iap``)."""
        return self.annotations.get(IAP_ENABLED, "false").lower() == "true"

    @property
    def tags(self) -> dict[str, str | None]:
        """Tag -> revision (``None``: the latest ready one)."""
        return {t.tag: t.revision for t in self.traffic if t.tag}

    def routes(self, latest_ready: str) -> tuple[Route, ...]:
        """``spec.traffic`` resolved as ``status.traffic`` shows it: ``latestRevision`` is ``latest_ready``.

        Targets naming the same revision without a tag are merged; a tag gets its own 0% route (as gcloud writes
        them). Without a ready revision yet, routes to the latest revision are left out.
        """
        percents: dict[tuple[str, bool], int] = {}
        tagged: list[Route] = []
        for target in self.traffic:
            revision = target.revision or latest_ready
            if not revision:
                continue
            latest = target.revision is None
            if target.percent:
                percents[(revision, latest)] = percents.get((revision, latest), 0) + target.percent
            if target.tag:
                tagged.append(Route(revision, 0, latest, target.tag))
        split = [Route(revision, percent, latest) for (revision, latest), percent in percents.items()]
        return (*split, *tagged)

    def to_json(self) -> Json:
        """A deep copy of ``raw`` (metadata and spec), free to change."""
        return copy.deepcopy(dict(self.raw))

    @classmethod
    def from_json(cls, body: Json, *, project_id: str, project_number: str, name: str | None = None) -> Service:
        """The Service in ``body`` checked as Cloud Run checks it, Google's defaults filled in ``raw``.

        ``name`` is the service of the URL (a replace); ``metadata.name`` must match it.
        """
        metadata = _dict(body.get("metadata"), "metadata", required=True)
        spec = _dict(body.get("spec"), "spec", required=True)
        given = check_service_name(metadata.get("name", name or ""))
        if name is not None and given != name:
            raise _fail("metadata.name", f"'{given}' does not match the service in the URL '{name}'.")
        namespace = metadata.get("namespace") or project_id
        if namespace not in (project_id, project_number):
            raise _fail("metadata.namespace", f"must be the project '{project_id}', not '{namespace}'.")
        annotations = _strings(metadata.get("annotations"), "metadata.annotations")
        if annotations.get(INGRESS, "all") not in INGRESS_VALUES:
            raise _fail(f"metadata.annotations[{INGRESS}]", f"must be one of {', '.join(INGRESS_VALUES)}.")
        audiences(annotations)
        if annotations.get(IAP_ENABLED, "false").lower() not in ("true", "false"):
            raise _fail(f"metadata.annotations[{IAP_ENABLED}]", "must be 'true' or 'false'.")
        raw = _with_defaults(given, metadata, spec, project_number)
        template = RevisionTemplate.from_json(raw["spec"]["template"], service_name=given)
        return cls(
            name=given,
            annotations=MappingProxyType(raw["metadata"]["annotations"]),
            labels=_strings(metadata.get("labels"), "metadata.labels"),
            template=template,
            traffic=_traffic(spec.get("traffic"), given),
            raw=MappingProxyType(raw),
        )


def _with_defaults(name: str, metadata: Json, spec: Json, project_number: str) -> Json:
    """metadata (name, namespace, labels, annotations) and spec as given, Cloud Run's defaults filled in."""
    kept = {k: copy.deepcopy(metadata[k]) for k in ("labels", "annotations") if isinstance(metadata.get(k), dict)}
    raw: Json = {"metadata": {"name": name, "namespace": project_number, **kept}, "spec": copy.deepcopy(spec)}
    annotations = raw["metadata"].setdefault("annotations", {})
    annotations.setdefault(INGRESS, "all")
    annotations[INGRESS_STATUS] = annotations[INGRESS]
    out = raw["spec"]
    if not out.get("traffic"):
        out["traffic"] = [{"percent": 100, "latestRevision": True}]
    template = _dict(out.get("template"), "spec.template", required=True)
    revision = _dict(template.get("spec"), "spec.template.spec", required=True)
    revision.setdefault("containerConcurrency", CLOUD_RUN_DEFAULT_CONCURRENCY)
    revision.setdefault("timeoutSeconds", CLOUD_RUN_DEFAULT_TIMEOUT_S)
    if not revision.get("serviceAccountName"):
        revision["serviceAccountName"] = compute_account(project_number)
    containers = _list(revision.get("containers"), "spec.template.spec.containers")
    ingress = containers[_ingress_index(containers)] if containers else None
    if isinstance(ingress, dict):
        resources = ingress.setdefault("resources", {})
        if isinstance(resources, dict):
            limits = resources.setdefault("limits", {})
            if isinstance(limits, dict):
                limits.setdefault("cpu", DEFAULT_CPU)
                limits.setdefault("memory", DEFAULT_MEMORY)
        if not ingress.get("ports"):
            ingress["ports"] = [{"name": "http1", "containerPort": DEFAULT_PORT}]
    return raw
