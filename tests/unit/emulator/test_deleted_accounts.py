"""A deleted account's access tokens stop working at once, and its re-created namesake does not inherit them."""

from __future__ import annotations

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam

pytestmark = pytest.mark.anyio

PROJECT = "/cloudresourcemanager/v1/projects/cloudgate-local"


async def _get_project(google: httpx.AsyncClient, token: str) -> int:
    answer = await google.get(PROJECT, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


async def test_an_access_token_of_a_deleted_account_is_refused(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    email = iam.create_account(ctx.store, "short-lived")
    iam.grant_project_role(ctx.store, "roles/viewer", f"serviceAccount:{email}")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    assert await _get_project(google, token) == 200
    iam.delete_account(ctx.store, email)
    assert await _get_project(google, token) == 401


async def test_an_access_token_minted_before_a_recreation_is_refused(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    email = iam.create_account(ctx.store, "phoenix")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    iam.delete_account(ctx.store, email)
    iam.create_account(ctx.store, "phoenix")
    iam.grant_project_role(ctx.store, "roles/viewer", f"serviceAccount:{email}")
    assert await _get_project(google, token) == 401
    fresh, _ = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
    assert await _get_project(google, fresh) == 200


def test_a_deleted_accounts_bindings_name_its_numeric_id(ctx: EmulatorContext) -> None:
    email = iam.create_account(ctx.store, "gone-soon")
    uid = ctx.store.current().accounts[email].unique_id
    iam.grant_project_role(ctx.store, "roles/run.invoker", f"serviceAccount:{email}")
    iam.delete_account(ctx.store, email)
    assert ctx.store.current().project_bindings["roles/run.invoker"] == [f"deleted:serviceAccount:{email}?uid={uid}"]
