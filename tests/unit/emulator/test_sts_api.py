"""The Security Token Service: token exchange against a pool's OIDC provider, as Google answers it."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.federation import WORKLOAD_IDENTITY_USER_ROLE
from cloudgate.emulator.core.keys import SigningKeys
from cloudgate.emulator.core.state import WorkloadPool, WorkloadProvider
from cloudgate.emulator.identity import iam
from cloudgate.emulator.identity.oidc_issuer import issuer_url, mint_subject_token
from tests.support import free_port
from tests.unit.emulator.conftest import BASE_URL

pytestmark = pytest.mark.anyio

_AUDIENCE = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/providers/github"
_POOL = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool"
_TARGET = "deployer-ci@cloudgate-local.iam.gserviceaccount.com"


@pytest.fixture
def provider(ctx: EmulatorContext) -> WorkloadProvider:
    made = WorkloadProvider(
        issuer_uri=issuer_url(BASE_URL, "github"),
        attribute_mapping={"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
        attribute_condition="assertion.repository.startsWith('org/')",
    )
    with ctx.store.edit() as state:
        state.workload_pools["ci-pool"] = WorkloadPool(providers={"github": made})
    iam.create_account(ctx.store, "deployer-ci")
    iam.grant_account_role(
        ctx.store, "deployer-ci", WORKLOAD_IDENTITY_USER_ROLE, f"{_POOL}/attribute.repository/org/repo"
    )
    return made


def _token(ctx: EmulatorContext, repository: str = "org/repo", **options: int) -> str:
    return mint_subject_token(
        ctx.store.folder, BASE_URL, "github", subject=f"repo:{repository}:ref:refs/heads/main",
        audience="https:" + _AUDIENCE, claims={"repository": repository}, **options,
    )  # fmt: skip


async def _exchange(google: httpx.AsyncClient, token: str, audience: str = _AUDIENCE) -> httpx.Response:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "audience": audience,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    }
    return await google.post("/sts/v1/token", data=form)


async def _id_token(google: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await google.post(
        f"/v1/projects/-/serviceAccounts/{_TARGET}:generateIdToken",
        json={"audience": "https://svc.example"},
        headers={"Authorization": f"Bearer {access_token}"},
    )


async def test_a_bound_repository_gets_a_federated_token_and_then_an_id_token(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    response = await _exchange(google, _token(ctx))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    id_token = await _id_token(google, body["access_token"])
    assert id_token.status_code == 200, id_token.text
    assert jwt.decode(id_token.json()["token"], options={"verify_signature": False})["aud"] == "https://svc.example"


async def test_the_federated_token_speaks_for_the_principal_with_its_attributes(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    body = (await _exchange(google, _token(ctx))).json()
    grant = ctx.issuer.access_grant(body["access_token"])
    assert grant is not None
    assert grant.member == (
        "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/"
        "subject/repo:org/repo:ref:refs/heads/main"
    )
    assert grant.attributes["attribute.repository"] == "org/repo"


async def test_a_claim_failing_the_attribute_condition_is_refused_as_google_words_it(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    response = await _exchange(google, _token(ctx, "evil/repo"))
    assert response.status_code == 400
    assert response.json() == {
        "error": "unauthorized_client",
        "error_description": "The given credential is rejected by the attribute condition.",
    }


async def test_an_expired_subject_token_is_an_invalid_grant(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    response = await _exchange(google, _token(ctx, lifetime_s=300, issued_ago_s=900))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_an_unknown_provider_is_an_invalid_target(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    response = await _exchange(google, _token(ctx), audience=_AUDIENCE.replace("/github", "/gitlab"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


async def test_a_token_of_another_issuer_is_an_invalid_grant(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    token = mint_subject_token(
        ctx.store.folder, BASE_URL, "gitlab", subject="x", audience="https:" + _AUDIENCE, claims={"repository": "org/r"}
    )
    response = await _exchange(google, token)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "does not match the expected ones" in response.json()["error_description"]


async def test_a_token_for_another_audience_is_an_invalid_grant(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    token = mint_subject_token(
        ctx.store.folder,
        BASE_URL,
        "github",
        subject="x",
        audience="https://github.com/org",
        claims={"repository": "org/r"},
    )
    response = await _exchange(google, token)
    assert response.status_code == 400 and "audience" in response.json()["error_description"]


async def test_a_forged_signature_is_an_invalid_grant(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    header, payload, _ = _token(ctx).split(".")
    response = await _exchange(google, f"{header}.{payload}.{'A' * 342}")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_a_principal_without_workload_identity_user_is_refused_at_generate_id_token(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    body = (await _exchange(google, _token(ctx, "org/other"))).json()
    response = await _id_token(google, body["access_token"])
    assert response.status_code == 403 and response.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_a_wrong_grant_type_is_refused(google: httpx.AsyncClient) -> None:
    response = await google.post("/sts/v1/token", data={"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


async def test_a_provider_trusting_an_inline_jwks_checks_tokens_against_it(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    """--jwk-json-path: another issuer's keys given inline; its tokens pass, no discovery document is fetched."""
    keys = SigningKeys(ctx.store.folder / "elsewhere")
    with ctx.store.edit() as state:
        made = state.workload_pools["ci-pool"].providers["github"]
        made.issuer_uri, made.jwks_json = "https://ci.example", json.dumps(keys.jwks())
    now = int(time.time())
    claims = {"iss": "https://ci.example", "aud": "https:" + _AUDIENCE, "sub": "repo:org/repo", "iat": now,
              "exp": now + 300, "repository": "org/repo"}  # fmt: skip
    response = await _exchange(google, keys.sign(claims))
    assert response.status_code == 200, response.text


async def test_an_issuer_that_cannot_be_reached_is_refused_in_googles_words(
    ctx: EmulatorContext, google: httpx.AsyncClient, provider: WorkloadProvider
) -> None:
    """A foreign issuer's discovery document is fetched; a closed port gets Google's documented answer."""
    issuer = f"http://127.0.0.1:{free_port()}"
    with ctx.store.edit() as state:
        state.workload_pools["ci-pool"].providers["github"].issuer_uri = issuer
    keys = SigningKeys(ctx.store.folder / "x")
    now = int(time.time())
    claims = {"iss": issuer, "aud": "https:" + _AUDIENCE, "sub": "s", "iat": now, "exp": now + 300}
    response = await _exchange(google, keys.sign(claims))
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Error connecting to the given credential's issuer.",
    }
