"""IAP's IAM API and public keys in-process: the answers ``gcloud beta iap web ... --resource-type=cloud-run``
relies on (the real gcloud runs in ``tests/e2e/test_iap_gcloud.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from cloudgate.emulator.core import iap
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import allowed, iap_resource, policy_key
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

KNATIVE = "/run/apis/serving.knative.dev/v1/namespaces/cloudgate-local/services"
ACCESSOR = "roles/iap.httpsResourceAccessor"


def _bearer(ctx: EmulatorContext, member: str) -> dict[str, str]:
    token, _ = ctx.issuer.mint_access_token(member)
    return {"Authorization": f"Bearer {token}"}


def _resource(ctx: EmulatorContext, name: str = "api", region: str = "us-central1") -> str:
    return f"/iap/v1/{iap.web_resource(ctx.store.current().project_number, region, name)}"


@pytest.fixture
async def owner(ctx: EmulatorContext, google: httpx.AsyncClient) -> dict[str, str]:
    """A project owner's headers, and a service ``api`` (us-central1) with IAP on."""
    email = iam.create_account(ctx.store, "deployer")
    iam.grant_project_role(ctx.store, "roles/owner", f"serviceAccount:{email}")
    headers = _bearer(ctx, f"serviceAccount:{email}")
    service: dict[str, Any] = {
        "metadata": {"name": "api", "annotations": {"run.googleapis.com/iap-enabled": "true"}},
        "spec": {"template": {"spec": {"containers": [{"image": "us-docker.pkg.dev/p/r/api"}]}}},
    }
    assert (await google.post(KNATIVE, json=service, headers=headers)).status_code == 200
    return headers


async def _set(google: httpx.AsyncClient, url: str, headers: dict[str, str], **policy: Any) -> httpx.Response:
    return await google.post(f"{url}:setIamPolicy", json={"policy": policy}, headers=headers)


async def test_the_annotation_turns_iap_on_for_the_service(ctx: EmulatorContext, owner: dict[str, str]) -> None:
    assert ctx.store.current().services["api"].iap is True


async def test_a_binding_set_through_iap_gives_access_and_no_invoke(
    ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    iam.create_user(ctx.store, "ada@example.com", token_uri=ctx.token_url, groups=["team@example.com"])  # a group
    read = (await google.post(f"{_resource(ctx)}:getIamPolicy", json={}, headers=owner)).json()
    bindings = [{"role": ACCESSOR, "members": ["group:team@example.com"]}]
    answer = await _set(google, _resource(ctx), owner, bindings=bindings, etag=read["etag"])
    state = ctx.store.current()
    assert answer.json()["bindings"] == bindings
    assert state.iap_bindings == {"api": {ACCESSOR: ["group:team@example.com"]}}
    assert state.services["api"].bindings == {}


async def test_a_stale_etag_is_aborted(ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    read = (await google.post(f"{_resource(ctx)}:getIamPolicy", json={}, headers=owner)).json()
    assert (await _set(google, _resource(ctx), owner, bindings=[], etag=read["etag"])).status_code == 200
    stale = await _set(google, _resource(ctx), owner, bindings=[], etag=read["etag"])
    assert (stale.status_code, stale.json()["error"]["status"]) == (409, "ABORTED")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/iap/v1/projects/123456789012/iap_web/cloud_run-us-central1/services/missing", 404),
        ("/iap/v1/projects/123456789012/iap_web/cloud_run-europe-west1/services/api", 404),
        ("/iap/v1/projects/123456789012/iap_web/appengine-app/services/default", 400),
        ("/iap/v1/projects/123456789012/iap_web/cloud_run-us-central1", 400),
        ("/iap/v1/projects/other-project/iap_web/cloud_run-us-central1/services/api", 403),
    ],
)
async def test_resources_other_than_an_existing_cloud_run_service_are_refused(
    google: httpx.AsyncClient, owner: dict[str, str], path: str, status: int
) -> None:
    assert (await google.post(f"{path}:getIamPolicy", json={}, headers=owner)).status_code == status


async def test_setting_needs_iap_set_iam_policy(
    ctx: EmulatorContext, google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    email = iam.create_account(ctx.store, "runner")
    iam.grant_project_role(ctx.store, "roles/run.admin", f"serviceAccount:{email}")
    refused = await _set(google, _resource(ctx), _bearer(ctx, f"serviceAccount:{email}"), bindings=[])
    assert refused.status_code == 403
    assert "iap.webServiceVersions.setIamPolicy" in refused.json()["error"]["message"]


def test_the_iap_policy_key_is_not_the_service_policy_key() -> None:
    assert policy_key("projects/1/iap_web/cloud_run-us-central1/services/api") == iap_resource("api")
    assert policy_key("projects/1/iap_web/cloud_run-europe-west1/services/api") == iap_resource("europe-west1/api")


async def test_the_accessor_role_at_project_level_is_inherited(ctx: EmulatorContext, owner: dict[str, str]) -> None:
    iam.grant_project_role(ctx.store, ACCESSOR, "serviceAccount:" + iam.create_account(ctx.store, "viewer"))
    member = f"serviceAccount:viewer@{ctx.store.current().project_id}.iam.gserviceaccount.com"
    assert allowed(ctx.store.current(), member, iap.ACCESS_PERMISSION, iap_resource("api"))


async def test_the_iap_agent_is_a_known_principal_with_tokens(ctx: EmulatorContext) -> None:
    number = ctx.store.current().project_number
    token = ctx.issuer.mint_id_token(iap.agent_email(number), "https://api.example")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == iap.agent_unique_id(number) and claims["email"] == iap.agent_email(number)


async def test_the_keys_verify_what_they_sign(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    audience = iap.audience("123", "us-central1", "api")
    claims = iap.assertion_claims(email="a@example.com", subject_id="42", audience=audience, now=1_800_000_000)
    token = ctx.iap_signing_keys().sign(claims)
    jwks = (await google.get(iap.JWKS_PATH)).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    decoded = jwt.decode(
        token, key, algorithms=["ES256"], audience=audience, options={"verify_exp": False, "verify_iat": False}
    )
    assert decoded == {**claims, "sub": "accounts.google.com:42"}
    assert jwt.get_unverified_header(token)["kid"] == jwks["keys"][0]["kid"]


async def test_the_v2_api_shows_iap_enabled(google: httpx.AsyncClient, owner: dict[str, str]) -> None:
    answer = await google.get("/run/v2/projects/cloudgate-local/locations/us-central1/services/api", headers=owner)
    assert answer.json()["iapEnabled"] is True


async def test_an_iap_annotation_other_than_true_or_false_is_invalid(
    google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    service: dict[str, Any] = {
        "metadata": {"name": "odd", "annotations": {"run.googleapis.com/iap-enabled": "yes"}},
        "spec": {"template": {"spec": {"containers": [{"image": "us-docker.pkg.dev/p/r/api"}]}}},
    }
    answer = await google.post(KNATIVE, json=service, headers=owner)
    assert (answer.status_code, answer.json()["error"]["status"]) == (400, "INVALID_ARGUMENT")
