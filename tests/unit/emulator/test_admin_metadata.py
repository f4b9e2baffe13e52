"""The admin API (local only, validated knobs) and the metadata server's rules."""

from __future__ import annotations

import httpx
import pytest

from cloudgate.emulator import iam
from cloudgate.emulator.context import EmulatorContext
from cloudgate.emulator.server import google_app
from tests.unit.emulator.conftest import BASE_URL

pytestmark = pytest.mark.anyio

_FLAVOR = {"Metadata-Flavor": "Google"}


async def test_admin_refuses_remote_clients(ctx: EmulatorContext) -> None:
    """A client that is not on loopback gets 403 from every admin route."""
    transport = httpx.ASGITransport(app=google_app(ctx), client=("10.1.2.3", 4567))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as remote:
        assert (await remote.get("/admin/counters")).status_code == 403
        assert (await remote.post("/admin/keys/rotate")).status_code == 403


@pytest.mark.parametrize("body", [{}, {"token_lifetime_seconds": 0}, {"token_lifetime_seconds": "5"}, [1]])
async def test_bad_token_lifetime_is_400(google: httpx.AsyncClient, body: object) -> None:
    """token_lifetime_seconds must be an integer from 1 to 43200."""
    assert (await google.put("/admin/settings", json=body)).status_code == 400


async def test_token_lifetime_knob_applies(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """A lifetime set through the admin API is persisted in the state and used for new tokens."""
    response = await google.put("/admin/settings", json={"token_lifetime_seconds": 30})
    assert response.json()["token_lifetime_seconds"] == 30
    assert ctx.store.current().token_lifetime_seconds == 30


@pytest.mark.parametrize("body", [{"count": -1}, {"count": 1, "status": 200}, {"count": "2"}])
async def test_bad_faults_are_400(google: httpx.AsyncClient, body: object) -> None:
    """Fault injection needs a non-negative count and an error status."""
    assert (await google.post("/admin/faults", json=body)).status_code == 400


async def test_state_hides_user_secrets(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """GET /admin/state lists users by email only, never their secrets' hashes."""
    iam.create_user(ctx.store, "dev@example.com", token_uri=ctx.token_url)
    state = (await google.get("/admin/state")).json()
    assert state["users"] == ["dev@example.com"]
    assert "sha256" not in str(state)


async def test_metadata_without_account_is_404(google: httpx.AsyncClient) -> None:
    """With no metadata account configured, the service-account paths answer 404."""
    path = "/computeMetadata/v1/instance/service-accounts/default/email"
    assert (await google.get(path, headers=_FLAVOR)).status_code == 404


async def test_metadata_identity_needs_audience(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """The identity endpoint without an audience is 400; with one it returns the raw JWT as text."""
    email = iam.create_account(ctx.store, "runner-sa")
    with ctx.store.edit() as state:
        state.metadata_account = email
    base = "/computeMetadata/v1/instance/service-accounts/default/identity"
    assert (await google.get(base, headers=_FLAVOR)).status_code == 400
    token = await google.get(f"{base}?audience=https://a.example&format=full", headers=_FLAVOR)
    assert token.status_code == 200 and token.text.count(".") == 2
    assert token.headers["metadata-flavor"] == "Google"


async def test_metadata_project_values(google: httpx.AsyncClient) -> None:
    """Project id and numeric id are plain text; unknown paths are 404."""
    assert (await google.get("/computeMetadata/v1/project/project-id", headers=_FLAVOR)).text == "cloudgate-local"
    numeric = await google.get("/computeMetadata/v1/project/numeric-project-id", headers=_FLAVOR)
    assert numeric.text.isdigit()
    assert (await google.get("/computeMetadata/v1/nothing/here", headers=_FLAVOR)).status_code == 404
