"""The Cloud Run service that ``cloudgate dev`` and ``cloudgate emulator run -- CMD`` deploy to their emulator.

Neither command runs the service itself: each describes it as a Knative Service (what ``gcloud run deploy``
sends) and hands it to the running emulator's admin API (``PUT /admin/services/NAME``, the one door Google has no
equivalent for: a fixed front-end port and a local command as the "container"). The emulator then runs it as
revisions of a Cloud Run service, exactly as a deployed one: ``gcloud run services list`` shows it, its IAM
policy is read and changed with gcloud, and scaling, env vars, per-instance folders and shutdown are the
emulator's one implementation. ``deploy`` waits, as gcloud does, until the service is ``Ready``.

Example::

    body = knative_service("dev", LocalCommand(["python3", "-m", "app"]), env={"MODE": "x"}, scaling=Scale(1, 1))
    await deploy("http://127.0.0.1:8089", "dev", 8080, body)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from cloudgate.errors import ConfigError, EmulatorError
from cloudgate.knative import NONCE_LABEL

#: How often ``deploy`` reads the service while its revision starts (gcloud polls, too).
_POLL_S = 0.1


@dataclass(frozen=True)
class Scale:
    """``--min-instances``/``--max-instances``/``--concurrency`` as the revision template carries them."""

    min_instances: int | None = None
    max_instances: int | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Container:
    """What runs: an image (podman), a local command, or an upstream URL (the emulator's own image names)."""

    image: str
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    #: ``{env var: path or sqlite:///path}``: each instance gets its own copy (Cloud Run instances share no disk).
    instance_copies: Mapping[str, str] = field(default_factory=dict)
    #: ``{host folder: container path}``: mounted read-only into an image's containers.
    host_volumes: Mapping[str, str] = field(default_factory=dict)
    #: Names of variables an image's containers take from the emulator's own environment (values never stored).
    inherit_env: Sequence[str] = ()


def scale_flags(
    instances: int | None, min_instances: int | None, max_instances: int | None, concurrency: int | None
) -> Scale:
    """The scaling the flags ask for; none given: exactly one instance, as a plain local run has.

    ``--instances N`` is ``--min-instances N --max-instances N``; a minimum alone keeps the maximum at least 1.
    Whether the values make sense (min <= max, ranges) is the emulator's to say, as Cloud Run's API does.
    """
    if instances is not None:
        if min_instances is not None or max_instances is not None:
            raise ConfigError("--instances N means --min-instances N --max-instances N: give one or the other")
        min_instances = max_instances = instances
    low = 1 if min_instances is None else min_instances
    high = max(low, 1) if max_instances is None else max_instances
    return Scale(low, high, concurrency)


def local_command(argv: Sequence[str], *, instance_copies: Mapping[str, str] | None = None) -> Container:
    """``argv`` run on this machine as the revision's container."""
    from cloudgate.emulator.serving.local_runners import LOCAL_COMMAND_IMAGE

    return Container(LOCAL_COMMAND_IMAGE, [argv[0]], list(argv[1:]), dict(instance_copies or {}))


def upstream(url: str) -> Container:
    """A service already running at ``url``, fronted as the revision's one instance."""
    from cloudgate.emulator.serving.local_runners import UPSTREAM_IMAGE

    return Container(UPSTREAM_IMAGE, args=[url])


def knative_service(
    name: str,
    container: Container,
    *,
    env: Mapping[str, str] | None = None,
    scale: Scale = Scale(),
    http2: bool = False,
    timeout_seconds: int | None = None,
    audiences: Sequence[str] = (),
    made_by: str = "cloudgate",
) -> dict[str, Any]:
    """The Knative Service for ``name`` as ``gcloud run deploy`` would write it for these flags."""
    from cloudgate.emulator.serving import local_runners

    service_annotations = {local_runners.MADE_BY: made_by}
    if audiences:
        service_annotations["run.googleapis.com/custom-audiences"] = json.dumps(list(audiences))
    template_annotations: dict[str, str] = {}
    # As ``gcloud run deploy`` does: each deploy is a new revision, even of an unchanged template.
    template_labels = {NONCE_LABEL: secrets.token_hex(5)}
    if scale.min_instances is not None:
        template_annotations["autoscaling.knative.dev/minScale"] = str(scale.min_instances)
    if scale.max_instances is not None:
        template_annotations["autoscaling.knative.dev/maxScale"] = str(scale.max_instances)
    if container.instance_copies:
        template_annotations[local_runners.INSTANCE_COPIES] = json.dumps(dict(container.instance_copies))
    if container.host_volumes:
        template_annotations[local_runners.HOST_VOLUMES] = json.dumps(dict(container.host_volumes))
    if container.inherit_env:
        template_annotations[local_runners.INHERIT_ENV] = ",".join(container.inherit_env)
    spec: dict[str, Any] = {"image": container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    if env:
        spec["env"] = [{"name": key, "value": value} for key, value in env.items()]
    if http2:
        spec["ports"] = [{"name": "h2c", "containerPort": 8080}]
    template_spec: dict[str, Any] = {"containers": [spec]}
    if scale.concurrency is not None:
        template_spec["containerConcurrency"] = scale.concurrency
    if timeout_seconds is not None:
        template_spec["timeoutSeconds"] = timeout_seconds
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": service_annotations},
        "spec": {
            "template": {
                "metadata": {"annotations": template_annotations, "labels": template_labels},
                "spec": template_spec,
            }
        },
    }


async def deploy(emulator_url: str, name: str, port: int, service: dict[str, Any]) -> dict[str, Any]:
    """Create or replace ``name`` on the emulator, its front end on ``port``; return it once ``Ready``.

    ``EmulatorError`` with the emulator's own message when it refuses the service or its revision fails.
    """
    async with httpx.AsyncClient(base_url=emulator_url, trust_env=False, timeout=60) as client:
        try:
            answer = await client.put(f"/admin/services/{name}", json={"service": service, "port": port})
            while answer.status_code == 200:
                status, message = _ready(answer.json())
                if status == "True":
                    return dict(answer.json())
                if status == "False":
                    raise EmulatorError(f"service {name} did not start: {message}")
                await anyio.sleep(_POLL_S)
                answer = await client.get(f"/admin/services/{name}")
        except httpx.HTTPError as exc:
            raise EmulatorError(f"the emulator at {emulator_url} did not answer: {exc}") from exc
    raise EmulatorError(f"the emulator refused service {name}: {_message(answer)}")


def _ready(service: dict[str, Any]) -> tuple[str, str]:
    for condition in (service.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("message", ""))
    return "Unknown", ""


def _message(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error")
    except ValueError:
        return f"HTTP {answer.status_code}"
    if isinstance(error, dict):
        return str(error.get("message", error))
    return f"HTTP {answer.status_code}: {answer.json().get('detail', error)}"
