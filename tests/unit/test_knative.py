"""Cloud Run's Knative Service parsed once: Google's checks (400 with the field and message) and Google's defaults."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from cloudgate import knative
from cloudgate.errors import InvalidResourceError

PROJECT = {"project_id": "demo", "project_number": "123456789012"}


def _body(**template_spec: Any) -> dict[str, Any]:
    spec = {"containers": [{"image": "us-docker.pkg.dev/p/r/api"}], **template_spec}
    return {"metadata": {"name": "api"}, "spec": {"template": {"spec": spec}}}


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``body`` with ``value`` set at a dotted path (``[0]`` indexes a list); missing objects are made."""
    body = copy.deepcopy(body)
    node: Any = body
    keys = path.replace("[", ".[").split(".")
    for key, following in itertools.pairwise(keys):
        node = node[int(key[1:-1])] if key.startswith("[") else node.setdefault(key, [] if following[0] == "[" else {})
    last = keys[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return body


def _parse(body: dict[str, Any]) -> knative.Service:
    return knative.Service.from_json(body, **PROJECT)


def test_defaults_are_filled_as_cloud_run_fills_them() -> None:
    raw = _parse(_body()).to_json()
    spec = raw["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert (spec["containerConcurrency"], spec["timeoutSeconds"]) == (80, 300)
    assert spec["serviceAccountName"] == "123456789012-compute@developer.gserviceaccount.com"
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "512Mi"}
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert raw["spec"]["traffic"] == [{"percent": 100, "latestRevision": True}]
    assert raw["metadata"]["namespace"] == "123456789012"
    assert raw["metadata"]["annotations"] == {
        "run.googleapis.com/ingress": "all",
        "run.googleapis.com/ingress-status": "all",
    }


def test_values_given_are_kept_over_defaults() -> None:
    body = _with(_body(containerConcurrency=5, serviceAccountName="sa@demo.iam.gserviceaccount.com"),
                 "spec.template.spec.containers[0].resources", {"limits": {"cpu": "2", "memory": "8Gi"}})  # fmt: skip
    template = _parse(body).template
    assert (template.scaling.concurrency, template.service_account) == (5, "sa@demo.iam.gserviceaccount.com")
    assert (template.container.cpu_millis, template.container.memory_bytes) == (2000, 8 * 2**30)


def test_the_view_reads_scaling_secrets_probe_and_http2() -> None:
    body = _body(
        volumes=[{"name": "v", "secret": {"secretName": "key", "items": [{"key": "3", "path": "api-key"}]}}],
    )
    container = body["spec"]["template"]["spec"]["containers"][0]
    container.update(
        env=[
            {"name": "A", "value": "1"},
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "latest"}}},
        ],
        volumeMounts=[{"name": "v", "mountPath": "/secrets"}],
        ports=[{"name": "h2c", "containerPort": 9000}],
        startupProbe={"tcpSocket": {"port": 9000}, "periodSeconds": 5, "failureThreshold": 4, "initialDelaySeconds": 2},
    )
    body["spec"]["template"]["metadata"] = {"annotations": {knative.MIN_SCALE: "1", knative.MAX_SCALE: "3"}}
    template = _parse(body).template
    assert template.scaling == knative.Scaling(1, 3, 80)
    assert template.container.env == (("A", "1"),)
    assert template.container.secret_env == (knative.SecretEnv("T", "tok", "latest"),)
    assert template.container.secret_files == (knative.SecretFile("/secrets/api-key", "/secrets", "key", "3"),)
    assert (template.container.port, template.container.http2, template.container.startup_seconds) == (9000, True, 22.0)


def test_the_raw_body_given_is_not_changed() -> None:
    body = _body()
    before = copy.deepcopy(body)
    _parse(body)
    assert body == before


_LIMITS = "spec.template.spec.containers[0].resources.limits"
_ANNOTATIONS = "spec.template.metadata.annotations"

BAD = {
    "concurrency over 1000": (
        "spec.template.spec.containerConcurrency", 2000, "spec.template.spec.containerConcurrency",
        "Invalid value: 2000: must be between 0 and 1000, inclusive."),
    "timeout over an hour": ("spec.template.spec.timeoutSeconds", 3601, "spec.template.spec.timeoutSeconds", "3600"),
    "timeout zero": ("spec.template.spec.timeoutSeconds", 0, "spec.template.spec.timeoutSeconds", "between 1"),
    "cpu 7": (_LIMITS, {"cpu": "7"}, f"{_LIMITS}.cpu", "one of 1, 2, 4, 6 or 8"),
    "memory over 4Gi with 1 cpu": (
        _LIMITS, {"cpu": "1", "memory": "8Gi"}, f"{_LIMITS}.memory",
        "For 1.0 CPU, memory must be between 128Mi and 4Gi inclusive."),
    "memory 100Gi": (_LIMITS, {"cpu": "8", "memory": "100Gi"}, f"{_LIMITS}.memory", "between 4Gi and 32Gi"),
    "fractional cpu with concurrency 80": (
        _LIMITS, {"cpu": "0.5"}, f"{_LIMITS}.cpu", "Total cpu < 1 is not supported with concurrency > 1."),
    "cpu not a quantity": (_LIMITS, {"cpu": "lots"}, f"{_LIMITS}.cpu", "Invalid value specified for cpu"),
    "min over max": (
        _ANNOTATIONS, {knative.MIN_SCALE: "5", knative.MAX_SCALE: "2"}, f"{_ANNOTATIONS}[{knative.MIN_SCALE}]",
        "min instances (5) must be less than or equal to max instances (2)"),
    "max zero": (_ANNOTATIONS, {knative.MAX_SCALE: "0"}, f"{_ANNOTATIONS}[{knative.MAX_SCALE}]", "between 1 and 1000"),
    "max not a number": (_ANNOTATIONS, {knative.MAX_SCALE: "many"}, f"{_ANNOTATIONS}[{knative.MAX_SCALE}]", "'many'"),
    "startup probe period zero": (
        "spec.template.spec.containers[0].startupProbe", {"periodSeconds": 0},
        "spec.template.spec.containers[0].startupProbe.periodSeconds", "between 1 and 240"),
    "startup probe timeout over period": (
        "spec.template.spec.containers[0].startupProbe", {"periodSeconds": 2, "timeoutSeconds": 5},
        "spec.template.spec.containers[0].startupProbe.timeoutSeconds", "periodSeconds"),
    "secret ref without a version": (
        "spec.template.spec.containers[0].env", [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "tok"}}}],
        "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key", "Required value."),
    "mount of an unknown volume": (
        "spec.template.spec.containers[0].volumeMounts", [{"name": "nope", "mountPath": "/s"}],
        "spec.template.spec.containers[0].volumeMounts[0].name", "not defined"),
    "reserved env name": (
        "spec.template.spec.containers[0].env", [{"name": "PORT", "value": "1"}],
        "spec.template.spec.containers[0].env", "reserved env names were provided: PORT"),
    "no image": ("spec.template.spec.containers[0]", {}, "spec.template.spec.containers[0].image", "Required value."),
    "no containers": ("spec.template.spec.containers", [], "spec.template.spec.containers", "Required value"),
    "name of 50 characters": ("metadata.name", "a" * 50, "metadata.name", "1-49 characters"),
    "name with capitals": ("metadata.name", "Api", "metadata.name", "1-49 characters"),
    "traffic short of 100": (
        "spec.traffic", [{"latestRevision": True, "percent": 90}], "spec.traffic", "Traffic targets sum to 90, want 100."),
    "traffic to another service's revision": (
        "spec.traffic", [{"revisionName": "other-00001-abc", "percent": 100}], "spec.traffic[0].revisionName",
        "not a revision of 'api'"),
    "a tag twice": (
        "spec.traffic", [{"latestRevision": True, "percent": 100, "tag": "a"}, {"revisionName": "api-1", "tag": "a"}],
        "spec.traffic", "Multiple definitions for the same tag."),
    "a tag with capitals": (
        "spec.traffic", [{"latestRevision": True, "percent": 100, "tag": "Canary"}], "spec.traffic[0].tag", "Canary"),
    "revision name of another service": (
        "spec.template.metadata", {"name": "other-00001-abc"}, "spec.template.metadata.name", "prefixed by 'api-'"),
    "unknown ingress": ("metadata.annotations", {knative.INGRESS: "everyone"}, f"metadata.annotations[{knative.INGRESS}]",
                        "must be one of"),
    "audiences not a list": (
        "metadata.annotations", {knative.CUSTOM_AUDIENCES: "x"}, f"metadata.annotations[{knative.CUSTOM_AUDIENCES}]",
        "JSON list"),
    "namespace of another project": ("metadata.namespace", "other", "metadata.namespace", "must be the project"),
    "spec not an object": ("spec", [], "spec", "must be an object."),
}  # fmt: skip


@pytest.mark.parametrize(("path", "value", "field", "message"), BAD.values(), ids=BAD.keys())
def test_what_cloud_run_refuses_names_the_field_and_why(path: str, value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidResourceError) as caught:
        _parse(_with(_body(), path, value))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ") and message in str(caught.value)


GOOD = {
    "8 cpu and 32Gi": (_LIMITS, {"cpu": "8", "memory": "32Gi"}),
    "2 cpu and 8Gi": (_LIMITS, {"cpu": "2000m", "memory": "8Gi"}),
    "half a cpu with concurrency 1": ("spec.template.spec", {"containers": [{"image": "i", "resources": {
        "limits": {"cpu": "0.5", "memory": "512Mi"}}}], "containerConcurrency": 1}),
    "concurrency 1000": ("spec.template.spec.containerConcurrency", 1000),
    "timeout 3600": ("spec.template.spec.timeoutSeconds", 3600),
    "min equal to max": (_ANNOTATIONS, {knative.MIN_SCALE: "2", knative.MAX_SCALE: "2"}),
    "a 49 character name": ("metadata.name", "a" * 49),
    "a split with a tag at 0%": ("spec.traffic", [
        {"revisionName": "api-00001-abc", "percent": 90}, {"latestRevision": True, "percent": 10},
        {"revisionName": "api-00002-xyz", "tag": "canary"}]),
    "the project number as namespace": ("metadata.namespace", "123456789012"),
}  # fmt: skip


@pytest.mark.parametrize(("path", "value"), GOOD.values(), ids=GOOD.keys())
def test_what_cloud_run_accepts_parses(path: str, value: Any) -> None:
    _parse(_with(_body(), path, value))


def test_traffic_targets_read_revision_percent_and_tag() -> None:
    traffic = [{"revisionName": "api-00001-abc", "percent": 100}, {"latestRevision": True, "tag": "canary"}]
    service = _parse(_with(_body(), "spec.traffic", traffic))
    assert service.traffic == (
        knative.TrafficTarget("api-00001-abc", 100),
        knative.TrafficTarget(None, 0, "canary"),
    )
    assert service.tags == {"canary": None}


def test_service_annotations_give_audiences_and_the_iam_check() -> None:
    annotations = {knative.CUSTOM_AUDIENCES: '["https://api.example"]', knative.INVOKER_IAM_DISABLED: "true"}
    service = _parse(_with(_body(), "metadata.annotations", annotations))
    assert (service.audiences, service.invoker_iam_check) == (("https://api.example",), False)


def test_a_name_in_the_url_must_match_the_body() -> None:
    with pytest.raises(InvalidResourceError, match="does not match"):
        knative.Service.from_json(_body(), name="other", **PROJECT)


def test_quantities_follow_kubernetes_units() -> None:
    assert [knative.cpu_millis(v, "f") for v in ("1", "0.5", "250m", "2.0")] == [1000, 500, 250, 2000]
    assert [knative.memory_bytes(v, "f") for v in ("512Mi", "1G", "2Gi")] == [512 * 2**20, 10**9, 2 * 2**30]


def test_routes_resolve_the_latest_revision_and_merge_shares() -> None:
    traffic = [
        {"revisionName": "api-00001-abc", "percent": 40},
        {"latestRevision": True, "percent": 50},
        {"revisionName": "api-00002-xyz", "percent": 10},
        {"revisionName": "api-00001-abc", "tag": "old"},
    ]
    routes = _parse(_with(_body(), "spec.traffic", traffic)).routes("api-00002-xyz")
    assert routes == (
        knative.Route("api-00001-abc", 40),
        knative.Route("api-00002-xyz", 50, latest=True),
        knative.Route("api-00002-xyz", 10),
        knative.Route("api-00001-abc", 0, tag="old"),
    )


def test_routes_to_the_latest_revision_wait_for_a_ready_one() -> None:
    assert _parse(_body()).routes("") == ()


def test_a_tag_route_shows_its_url_in_status() -> None:
    route = knative.Route("api-00002-xyz", 0, latest=False, tag="canary")
    assert route.to_json("http://127.0.0.1:9") == {
        "revisionName": "api-00002-xyz",
        "percent": 0,
        "tag": "canary",
        "url": "http://127.0.0.1:9",
    }


def test_a_sidecar_listed_first_gets_no_port_and_the_ingress_container_the_defaults() -> None:
    """gcloud keeps ``--container`` order; the ingress container is the one with ``--port``, wherever it stands."""
    sidecar = {"name": "collector", "image": "us-docker.pkg.dev/p/r/collector"}
    app = {"name": "app", "image": "us-docker.pkg.dev/p/r/api", "ports": [{"containerPort": 9000}]}
    service = _parse(_body(containers=[sidecar, app]))
    first, second = service.to_json()["spec"]["template"]["spec"]["containers"]
    assert first == sidecar
    assert second["resources"]["limits"] == {"cpu": "1000m", "memory": "512Mi"}
    assert (service.template.container.image, service.template.container.port) == (app["image"], 9000)
