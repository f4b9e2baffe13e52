"""Workload identity pools and OIDC providers through the IAM API, in-process: what gcloud gets back and what is
refused (the real gcloud runs against them in ``tests/e2e/test_wif_gcloud.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

POOLS = "/iam/v1/projects/cloudgate-local/locations/global/workloadIdentityPools"


@pytest.fixture
def owner(ctx: EmulatorContext) -> dict[str, str]:
    email = iam.create_account(ctx.store, "deployer")
    iam.grant_project_role(ctx.store, "roles/owner", f"serviceAccount:{email}")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    return {"Authorization": f"Bearer {token}"}


def _provider(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "oidc": {"issuerUri": "https://token.actions.githubusercontent.com"},
        "attributeMapping": {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
        "attributeCondition": "assertion.repository_owner == 'org'",
    }
    body.update(changes)
    return body


@pytest.fixture
async def pool(google: httpx.AsyncClient, owner: dict[str, str]) -> str:
    created = await google.post(f"{POOLS}?workloadIdentityPoolId=ci-pool", json={"displayName": "CI"}, headers=owner)
    assert created.status_code == 200, created.text
    return f"{POOLS}/ci-pool"


async def test_a_created_pool_is_a_done_operation_named_by_project_number(
    google: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    created = (await google.post(f"{POOLS}?workloadIdentityPoolId=ci-pool", json={}, headers=owner)).json()
    assert created["done"] is True
    assert created["response"]["name"] == "projects/123456789012/locations/global/workloadIdentityPools/ci-pool"


async def test_a_provider_reads_back_as_created(google: httpx.AsyncClient, owner: dict[str, str], pool: str) -> None:
    await google.post(f"{pool}/providers?workloadIdentityPoolProviderId=github", json=_provider(), headers=owner)
    described = (await google.get(f"{pool}/providers/github", headers=owner)).json()
    assert described["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
    assert described["attributeCondition"] == "assertion.repository_owner == 'org'"
    assert described["attributeMapping"]["google.subject"] == "assertion.sub"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"attributeMapping": {"attribute.repository": "assertion.repository"}}, "google.subject"),
        ({"attributeMapping": {"google.subject": "assertion.("}}, "Invalid CEL"),
        ({"attributeCondition": "assertion.repository =="}, "Invalid CEL"),
        ({"attributeMapping": {"google.subject": "assertion.sub", "Repo": "assertion.repository"}}, "attribute name"),
        ({"oidc": {}}, "issuerUri"),
        ({"oidc": {"issuerUri": "https://ci.example", "jwksJson": "{not json"}}, "jwksJson"),
    ],
)
async def test_a_provider_google_would_refuse_is_400(
    google: httpx.AsyncClient, owner: dict[str, str], pool: str, changes: dict[str, Any], words: str
) -> None:
    refused = await google.post(
        f"{pool}/providers?workloadIdentityPoolProviderId=github", json=_provider(**changes), headers=owner
    )
    assert refused.status_code == 400 and words in refused.json()["error"]["message"]


async def test_an_existing_pool_id_is_409(google: httpx.AsyncClient, owner: dict[str, str], pool: str) -> None:
    again = await google.post(f"{POOLS}?workloadIdentityPoolId=ci-pool", json={}, headers=owner)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS"


@pytest.mark.parametrize("pool_id", ["ci", "gcp-pool", "Upper-Case", ""])
async def test_an_invalid_pool_id_is_400(google: httpx.AsyncClient, owner: dict[str, str], pool_id: str) -> None:
    refused = await google.post(f"{POOLS}?workloadIdentityPoolId={pool_id}", json={}, headers=owner)
    assert refused.status_code == 400


async def test_a_caller_without_a_role_may_not_create_a_pool(google: httpx.AsyncClient, ctx: EmulatorContext) -> None:
    email = iam.create_account(ctx.store, "nobody-sa")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    refused = await google.post(
        f"{POOLS}?workloadIdentityPoolId=ci-pool", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403
