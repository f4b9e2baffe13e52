"""The emulated admin APIs in-process: Google's error shapes and codes, etags, the proxy form, permissions.

The real gcloud runs against them in ``tests/e2e/test_emulator_control_plane.py``; these tests pin the answers
gcloud relies on without paying for a gcloud process each.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from cloudgate.emulator.control.secrets_api import crc32c
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

KNATIVE = "/run/apis/serving.knative.dev/v1/namespaces/cloudgate-local/services"


def _bearer(ctx: EmulatorContext, member: str) -> dict[str, str]:
    token, _ = ctx.issuer.mint_access_token(member)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def owner(ctx: EmulatorContext) -> dict[str, str]:
    """Headers of a project owner (what ``gcloud-env``'s deployer account is)."""
    email = iam.create_account(ctx.store, "deployer")
    iam.grant_project_role(ctx.store, "roles/owner", f"serviceAccount:{email}")
    return _bearer(ctx, f"serviceAccount:{email}")


def _service(name: str = "api", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "cloudgate-local", "annotations": annotations},
        "spec": {"template": {"spec": {"containers": [{"image": "us-docker.pkg.dev/p/r/api"}]}}},
    }


async def test_create_then_get_has_generation_revision_and_region(
    google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    created = await google.post(KNATIVE, json=_service(), headers={**owner, "Host": "us-east1-emulator.test"})
    assert created.status_code == 200
    body = created.json()
    assert body["metadata"]["generation"] == 1 and body["status"]["observedGeneration"] == 1
    assert body["metadata"]["labels"]["cloud.googleapis.com/location"] == "us-east1"
    assert body["status"]["latestCreatedRevisionName"].startswith("api-00001-")
    # Without a revision runtime (in-process), the revision cannot start: Ready=False says why.
    ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "runs no revisions" in ready["message"]
    other_region = await google.get(f"{KNATIVE}/api", headers={**owner, "Host": "us-central1-emulator.test"})
    assert other_region.status_code == 404


async def test_errors_have_googles_shape_and_codes(
    ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    assert (await google.post(KNATIVE, json=_service(), headers=owner)).status_code == 200
    cases = {
        409: await google.post(KNATIVE, json=_service(), headers=owner),
        404: await google.get(f"{KNATIVE}/missing", headers=owner),
        401: await google.get(f"{KNATIVE}/api"),
        403: await google.get(
            f"{KNATIVE}/api", headers=_bearer(ctx, f"serviceAccount:{iam.create_account(ctx.store, 'no-role')}")
        ),
        400: await google.post(KNATIVE, json={"metadata": {"name": "Bad_Name"}, "spec": {}}, headers=owner),
    }
    names = {
        409: "ALREADY_EXISTS",
        404: "NOT_FOUND",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        400: "INVALID_ARGUMENT",
    }
    for code, response in cases.items():
        assert response.status_code == code
        assert response.json()["error"]["code"] == code and response.json()["error"]["status"] == names[code]


async def test_set_iam_policy_with_a_stale_etag_is_aborted(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    await google.post(KNATIVE, json=_service(), headers=owner)
    method = "/run/v1/projects/cloudgate-local/locations/us-central1/services/api"
    first = (await google.post(f"{method}:getIamPolicy", headers=owner)).json()
    binding = {"role": "roles/run.invoker", "members": ["allUsers"]}
    ok = await google.post(f"{method}:setIamPolicy", json={"policy": {**first, "bindings": [binding]}}, headers=owner)
    assert ok.status_code == 200 and ok.json()["etag"] != first["etag"]
    # gcloud sends the etag back base64url-encoded; the same bytes still match.
    urlsafe = ok.json()["etag"].replace("+", "-").replace("/", "_")
    again = await google.post(
        f"{method}:setIamPolicy", json={"policy": {"etag": urlsafe, "bindings": []}}, headers=owner
    )
    assert again.status_code == 200
    stale = await google.post(
        f"{method}:setIamPolicy", json={"policy": {**first, "bindings": [binding]}}, headers=owner
    )
    assert stale.status_code == 409 and stale.json()["error"]["status"] == "ABORTED"
    assert "bindings" not in (await google.post(f"{method}:getIamPolicy", headers=owner)).json()


async def test_proxy_form_requests_are_served_and_foreign_hosts_refused_plainly(
    google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    """gcloud with the emulator as its HTTP proxy sends absolute-form targets with its regional host."""
    absolute = await google.get(f"http://us-central1-emulator.test{KNATIVE}", headers=owner)
    assert absolute.status_code == 200 and absolute.json()["kind"] == "ServiceList"
    foreign = await google.get(f"http://run.googleapis.com{KNATIVE}", headers={**owner, "Host": "run.googleapis.com"})
    assert foreign.status_code == 421
    assert "Host guard (not an IAM decision)" in foreign.json()["error"]["message"]


async def test_secret_versions_latest_disable_and_checksum(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    base = "/secretmanager/v1/projects/cloudgate-local/secrets"
    assert (
        await google.post(f"{base}?secretId=token", json={"replication": {"automatic": {}}}, headers=owner)
    ).status_code == 200
    for value in (b"one", b"two"):
        payload = {"data": base64.b64encode(value).decode(), "dataCrc32c": str(crc32c(value))}
        assert (
            await google.post(f"{base}/token:addVersion", json={"payload": payload}, headers=owner)
        ).status_code == 200
    bad = {"data": base64.b64encode(b"x").decode(), "dataCrc32c": "1"}
    assert (await google.post(f"{base}/token:addVersion", json={"payload": bad}, headers=owner)).status_code == 400
    latest = (await google.get(f"{base}/token/versions/latest:access", headers=owner)).json()
    assert base64.b64decode(latest["payload"]["data"]) == b"two" and latest["name"].endswith("/versions/2")
    await google.post(f"{base}/token/versions/2:disable", json={}, headers=owner)
    latest = (await google.get(f"{base}/token/versions/latest:access", headers=owner)).json()
    assert base64.b64decode(latest["payload"]["data"]) == b"one"
    disabled = await google.get(f"{base}/token/versions/2:access", headers=owner)
    assert disabled.status_code == 400 and disabled.json()["error"]["status"] == "FAILED_PRECONDITION"


async def test_crc32c_is_castagnoli() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value


async def test_service_account_create_twice_is_already_exists(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    base = "/iam/v1/projects/cloudgate-local/serviceAccounts"
    body = {"accountId": "ci-caller", "serviceAccount": {"displayName": "CI"}}
    assert (await google.post(base, json=body, headers=owner)).json()["displayName"] == "CI"
    again = await google.post(base, json=body, headers=owner)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"
    missing = await google.get(f"{base}/nobody@cloudgate-local.iam.gserviceaccount.com", headers=owner)
    assert missing.status_code == 404


async def test_a_service_cloud_run_refuses_is_400_and_creates_nothing(
    google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    body = _service()
    body["spec"]["template"]["spec"]["containerConcurrency"] = 2000
    refused = await google.post(KNATIVE, json=body, headers=owner)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert refused.json()["error"]["message"].startswith("spec.template.spec.containerConcurrency: ")
    assert (await google.get(f"{KNATIVE}/api", headers=owner)).status_code == 404


async def test_a_bad_replace_leaves_the_service_as_it_was(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    created = (await google.post(KNATIVE, json=_service(), headers=owner)).json()
    body = _service()
    body["spec"]["template"]["metadata"] = {"annotations": {"autoscaling.knative.dev/minScale": "5",
                                                            "autoscaling.knative.dev/maxScale": "2"}}  # fmt: skip
    assert (await google.put(f"{KNATIVE}/api", json=body, headers=owner)).status_code == 400
    after = (await google.get(f"{KNATIVE}/api", headers=owner)).json()
    assert after["metadata"]["generation"] == created["metadata"]["generation"]
    assert after["spec"] == created["spec"]


async def test_the_same_name_may_exist_in_two_regions(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    for region in ("us-central1", "europe-west1"):
        created = await google.post(KNATIVE, json=_service(), headers={**owner, "Host": f"{region}-emulator.test"})
        assert created.status_code == 200
    again = await google.post(KNATIVE, json=_service(), headers={**owner, "Host": "europe-west1-emulator.test"})
    assert again.status_code == 409
    east = await google.get(f"{KNATIVE}/api", headers={**owner, "Host": "europe-west1-emulator.test"})
    assert east.json()["metadata"]["labels"]["cloud.googleapis.com/location"] == "europe-west1"
    listed = await google.get("/run/v1/projects/cloudgate-local/locations/-/services", headers=owner)
    regions = [s["metadata"]["labels"]["cloud.googleapis.com/location"] for s in listed.json()["items"]]
    assert sorted(regions) == ["europe-west1", "us-central1"]


async def test_traffic_to_an_unknown_revision_is_400(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    await google.post(KNATIVE, json=_service(), headers=owner)
    body = _service()
    body["spec"]["traffic"] = [{"revisionName": "api-00009-zzz", "percent": 100}]
    refused = await google.put(f"{KNATIVE}/api", json=body, headers=owner)
    assert refused.status_code == 400 and "api-00009-zzz" in refused.json()["error"]["message"]


async def test_defaults_are_filled_and_the_compute_account_exists(
    ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    body = (await google.post(KNATIVE, json=_service(), headers=owner)).json()
    account = body["spec"]["template"]["spec"]["serviceAccountName"]
    state = ctx.store.current()
    assert account == f"{state.project_number}-compute@developer.gserviceaccount.com"
    assert account in state.accounts
    assert body["spec"]["traffic"] == [{"percent": 100, "latestRevision": True}]
