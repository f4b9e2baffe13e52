"""Cloud Run Admin API v2 (read-only) shows the services the v1 API made, in v2's shape, under the same IAM.

google-cloud-run's ``ServicesClient`` reads them over gRPC and REST in ``tests/e2e/test_emulator_client_libraries.py``;
these pin the translation and the refusals in-process.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

KNATIVE = "/run/apis/serving.knative.dev/v1/namespaces/cloudgate-local/services"
V2 = "/run/v2/projects/cloudgate-local/locations"


def _bearer(ctx: EmulatorContext, name: str, role: str | None) -> dict[str, str]:
    email = iam.create_account(ctx.store, name)
    if role is not None:
        iam.grant_project_role(ctx.store, role, f"serviceAccount:{email}")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def owner(ctx: EmulatorContext) -> dict[str, str]:
    return _bearer(ctx, "deployer", "roles/owner")


def _service() -> dict[str, Any]:
    container = {
        "image": "us-docker.pkg.dev/p/r/api",
        "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "3"}}},
        ],
    }
    template = {
        "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "4"}},
        "spec": {"containers": [container], "timeoutSeconds": 120},
    }
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "cloudgate-local", "labels": {"team": "core"}},
        "spec": {"template": template},
    }


async def test_a_v1_service_reads_as_v2(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    assert (await google.post(KNATIVE, json=_service(), headers=owner)).status_code == 200
    body = (await google.get(f"{V2}/us-central1/services/api", headers=owner)).json()
    assert body["name"] == "projects/cloudgate-local/locations/us-central1/services/api"
    assert body["labels"] == {"team": "core"}  # the location label is a field of the name, not a label
    assert body["ingress"] == "INGRESS_TRAFFIC_ALL"
    template = body["template"]
    assert (template["timeout"], template["maxInstanceRequestConcurrency"]) == ("120s", 80)
    assert template["scaling"] == {"maxInstanceCount": 4}
    assert template["containers"][0]["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "TOKEN", "valueSource": {"secretKeyRef": {"secret": "api-token", "version": "3"}}},
    ]
    assert body["traffic"] == [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
    # In-process there is no revision runtime: the revision fails, and v2 says so in terminalCondition.
    assert body["terminalCondition"]["state"] == "CONDITION_FAILED"


async def test_every_region_is_listed_with_a_dash(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    await google.post(KNATIVE, json=_service(), headers={**owner, "Host": "europe-west1-emulator.test"})
    everywhere = (await google.get(f"{V2}/-/services", headers=owner)).json()
    assert [s["name"] for s in everywhere["services"]] == [
        "projects/cloudgate-local/locations/europe-west1/services/api"
    ]
    assert (await google.get(f"{V2}/us-central1/services", headers=owner)).json() == {}


async def test_a_missing_service_is_404(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    answer = await google.get(f"{V2}/us-central1/services/nope", headers=owner)
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"


async def test_a_caller_without_run_services_get_is_403(
    ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    await google.post(KNATIVE, json=_service(), headers=owner)
    stranger = _bearer(ctx, "stranger", None)
    answer = await google.get(f"{V2}/us-central1/services/api", headers=stranger)
    assert answer.status_code == 403
    assert answer.json()["error"]["message"].startswith("Permission 'run.services.get' denied")
