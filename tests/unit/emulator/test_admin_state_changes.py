"""The admin API's state changes (``POST /admin/state/...``, ``PUT /admin/settings``): what ``cloudgate emulator
accounts/users/services/project/settings`` send while an emulator runs, so that it is its state's one writer."""

from __future__ import annotations

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.keys import sha256_hex
from cloudgate.emulator.identity import iam
from cloudgate.emulator.server import google_app
from tests.unit.emulator.conftest import BASE_URL

pytestmark = pytest.mark.anyio

SA = "changes-sa@cloudgate-local.iam.gserviceaccount.com"


async def test_accounts_create_answers_the_email_and_keeps_the_account(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    answer = await google.post("/admin/state/accounts/create", json={"account": "changes-sa", "groups": []})
    assert answer.status_code == 200 and answer.json() == {"email": SA}
    assert SA in ctx.store.current().accounts


async def test_accounts_create_puts_the_account_in_its_groups(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    body = {"account": "changes-sa", "groups": ["ops@example.com"]}
    assert (await google.post("/admin/state/accounts/create", json=body)).status_code == 200
    assert ctx.store.current().groups["ops@example.com"].members == [f"serviceAccount:{SA}"]


async def test_an_invalid_account_id_is_400_with_the_reason(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    answer = await google.post("/admin/state/accounts/create", json={"account": "Bad_Id"})
    assert answer.status_code == 400
    assert "invalid service account id" in answer.json()["detail"]
    assert ctx.store.current().accounts == {}


async def test_accounts_key_names_this_emulators_token_endpoint(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    """The key file comes back once; the state keeps its public key only."""
    iam.create_account(ctx.store, "changes-sa")
    key_file = (await google.post("/admin/state/accounts/key", json={"account": SA})).json()
    assert key_file["token_uri"] == ctx.token_url and key_file["client_email"] == SA
    stored = ctx.store.current().accounts[SA].keys[key_file["private_key_id"]]
    assert "PUBLIC KEY" in stored and "PRIVATE" not in stored


async def test_accounts_key_takes_a_given_token_uri(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    iam.create_account(ctx.store, "changes-sa")
    body = {"account": SA, "token_uri": "http://127.0.0.1:9/token"}
    assert (await google.post("/admin/state/accounts/key", json=body)).json()["token_uri"] == "http://127.0.0.1:9/token"


async def test_a_key_for_a_missing_account_is_400(google: httpx.AsyncClient) -> None:
    answer = await google.post("/admin/state/accounts/key", json={"account": "ghost-sa"})
    assert answer.status_code == 400 and "no service account" in answer.json()["detail"]


async def test_accounts_grant_binds_the_token_creator_role_by_default(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    iam.create_account(ctx.store, "changes-sa")
    iam.create_user(ctx.store, "alice@example.com", token_uri=ctx.token_url)
    body = {"account": SA, "member": "user:alice@example.com"}
    assert (await google.post("/admin/state/accounts/grant", json=body)).status_code == 200
    bindings = ctx.store.current().account_bindings[SA]
    assert bindings == {"roles/iam.serviceAccountTokenCreator": ["user:alice@example.com"]}


async def test_users_create_answers_credentials_and_keeps_hashes(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    body = {"email": "alice@example.com", "groups": ["devs@example.com"]}
    credentials = (await google.post("/admin/state/users/create", json=body)).json()
    assert credentials["type"] == "authorized_user" and credentials["token_uri"] == ctx.token_url
    user = ctx.store.current().users["alice@example.com"]
    assert user.refresh_token_sha256 == sha256_hex(credentials["refresh_token"])
    assert ctx.store.current().groups["devs@example.com"].members == ["user:alice@example.com"]


async def test_services_set_keeps_url_and_audiences(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    body = {"name": "api", "url": "http://127.0.0.1:9", "audiences": ["https://a.example"]}
    assert (await google.post("/admin/state/services/set", json=body)).status_code == 200
    service = ctx.store.current().services["api"]
    assert (service.url, service.audiences) == ("http://127.0.0.1:9", ["https://a.example"])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "../x", "url": "http://127.0.0.1:9"}, "service names must be 1-49 characters"),
        ({"name": "api", "url": "notaurl"}, "is not an http(s) URL"),
        ({"name": "api", "url": "http://127.0.0.1:9", "timeout_seconds": 0}, "between 1 and 3600 seconds"),
        ({"name": "api", "url": "http://127.0.0.1:9", "audiences": "https://a.example"}, "audiences must be a list"),
    ],
)
async def test_a_refused_service_is_400_and_creates_nothing(
    ctx: EmulatorContext, google: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    answer = await google.post("/admin/state/services/set", json=body)
    assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert ctx.store.current().services == {}


async def test_services_grant_then_revoke(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    iam.ensure_service(ctx.store, "api", url="http://127.0.0.1:9")
    body = {"name": "api", "member": "allUsers"}
    assert (await google.post("/admin/state/services/grant", json=body)).status_code == 200
    assert ctx.store.current().services["api"].bindings == {"roles/run.invoker": ["allUsers"]}
    assert (await google.post("/admin/state/services/revoke", json=body)).status_code == 200
    assert ctx.store.current().services["api"].bindings == {"roles/run.invoker": []}


async def test_a_role_not_supported_on_a_service_is_400_in_googles_words(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    iam.ensure_service(ctx.store, "api", url="http://127.0.0.1:9")
    body = {"name": "api", "member": "allUsers", "role": "roles/storage.admin"}
    answer = await google.post("/admin/state/services/grant", json=body)
    assert answer.status_code == 400
    assert answer.json()["detail"] == "Role roles/storage.admin is not supported for this resource."


async def test_project_grant_binds_on_the_project(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    iam.create_account(ctx.store, "changes-sa")
    body = {"member": f"serviceAccount:{SA}", "role": "roles/run.admin"}
    assert (await google.post("/admin/state/project/grant", json=body)).status_code == 200
    assert ctx.store.current().project_bindings["roles/run.admin"] == [f"serviceAccount:{SA}"]


async def test_settings_change_the_named_settings_only(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    iam.create_account(ctx.store, "changes-sa")
    body = {"metadata_account": "changes-sa", "iam_propagation_seconds": 5}
    answer = (await google.put("/admin/settings", json=body)).json()
    assert (answer["metadata_account"], answer["iam_propagation_seconds"]) == (SA, 5)
    assert answer["token_lifetime_seconds"] == ctx.store.current().token_lifetime_seconds == 3600


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"metadata_account": "ghost-sa"}, "no service account"),
        ({"iam_propagation_seconds": -1}, "iam_propagation_seconds must be a number from 0 to 3600"),
        ({"project_id": ""}, "project_id must be a non-empty string"),
        ({}, "give at least one setting"),
    ],
)
async def test_refused_settings_are_400_and_change_nothing(
    ctx: EmulatorContext, google: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    before = ctx.store.current()
    answer = await google.put("/admin/settings", json=body)
    assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert ctx.store.current() == before


@pytest.mark.parametrize("body", [[1], {"groups": []}, {"account": 5}])
async def test_a_body_that_is_not_the_changes_shape_is_400(google: httpx.AsyncClient, body: object) -> None:
    assert (await google.post("/admin/state/accounts/create", json=body)).status_code == 400


async def test_state_changes_refuse_remote_clients(ctx: EmulatorContext) -> None:
    transport = httpx.ASGITransport(app=google_app(ctx), client=("10.1.2.3", 4567))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as remote:
        answer = await remote.post("/admin/state/accounts/create", json={"account": "changes-sa"})
    assert answer.status_code == 403
    assert ctx.store.current().accounts == {}


async def test_state_changes_refuse_a_body_a_web_page_could_send(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    """text/plain needs no CORS preflight: the admin API takes JSON bodies only."""
    content = '{"account": "changes-sa"}'
    answer = await google.post("/admin/state/accounts/create", content=content, headers={"content-type": "text/plain"})
    assert answer.status_code == 415
    assert ctx.store.current().accounts == {}
