"""The admin API (local only, validated knobs) and the metadata server's rules."""

from __future__ import annotations

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
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


@pytest.mark.parametrize("host", ["127.0.0.1:8089", "localhost:8089", "[::1]:8089", "LOCALHOST", "emulator.test"])
async def test_local_host_names_are_served(google: httpx.AsyncClient, host: str) -> None:
    """Loopback names (any port) and the emulator's own host, as google-auth and gcloud send them."""
    response = await google.get("/oauth2/v1/certs", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/admin/state"), ("GET", "/computeMetadata/v1/project/project-id"), ("POST", "/token"), ("GET", "/")],
)
async def test_foreign_host_names_are_refused(google: httpx.AsyncClient, method: str, path: str) -> None:
    """DNS rebinding: a page under attacker.example that resolves to 127.0.0.1 is refused by every endpoint,
    with 421 and a message naming the Host guard (a 403 would read as an IAM denial in gcloud)."""
    for host in ("attacker.example:8089", "127.0.0.1.attacker.example", "localhost.evil"):
        response = await google.request(method, path, headers={"Host": host, **_FLAVOR})
        assert response.status_code == 421, (host, path)
        assert "Host guard (not an IAM decision)" in response.json()["error"]["message"]
        assert "eyJ" not in response.text


async def test_admin_bodies_must_be_json(ctx: EmulatorContext, google: httpx.AsyncClient) -> None:
    """A text/plain POST (no CORS preflight needed) is 415 and changes nothing; JSON works."""
    body = b'{"count": 2, "status": 503}'
    refused = await google.post("/admin/faults", content=body, headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert ctx.faults.pending()["count"] == 0
    accepted = await google.post("/admin/faults", content=body, headers={"Content-Type": "application/json"})
    assert accepted.status_code == 200 and ctx.faults.pending()["count"] == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:3000"},  # another local dev server's page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_admin_refuses_requests_from_other_web_pages(
    ctx: EmulatorContext, google: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """Even with a JSON body and for bodyless POSTs: a foreign Origin or a cross-site fetch gets 403."""
    kid = ctx.keys.current_kid
    assert (await google.post("/admin/faults", json={"count": 1}, headers=headers)).status_code == 403
    assert (await google.post("/admin/keys/rotate", headers=headers)).status_code == 403
    assert ctx.faults.pending()["count"] == 0 and ctx.keys.current_kid == kid


async def test_admin_accepts_its_own_origin_and_bodyless_posts(google: httpx.AsyncClient) -> None:
    """Same-origin requests and curl-style POSTs without a body (key rotation) keep working."""
    own = {"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"}
    assert (await google.get("/admin/state", headers=own)).status_code == 200
    assert (await google.post("/admin/keys/rotate")).status_code == 200


async def test_admin_refuses_clients_forwarded_for_others(ctx: EmulatorContext) -> None:
    """A loopback relay that forwards a remote client (X-Forwarded-For, Forwarded) is not a local client."""
    transport = httpx.ASGITransport(app=google_app(ctx), client=("127.0.0.1", 4567))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as relay:
        for header in ({"X-Forwarded-For": "8.8.8.8"}, {"X-Forwarded-For": "127.0.0.1, 10.0.0.1"}):
            assert (await relay.get("/admin/state", headers=header)).status_code == 403
        assert (await relay.get("/admin/state", headers={"Forwarded": 'for="[2001:db8::1]"'})).status_code == 403
        assert (await relay.get("/admin/state", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 200


def test_uvicorn_trusts_no_forwarded_headers() -> None:
    """uvicorn must not replace the peer with X-Forwarded-For (the front end appends the real peer, as Cloud Run
    does); the front end's server adds no Date of its own (the container's passes through)."""
    from cloudgate.emulator.serving.listeners import quiet_server

    google, front = quiet_server(object(), graceful=1), quiet_server(object(), graceful=1, date_header=False)
    assert google.config.proxy_headers is False and front.config.proxy_headers is False
    assert google.config.date_header is True and front.config.date_header is False


async def test_a_revisions_metadata_server_runs_as_its_service_account(
    ctx: EmulatorContext, google: httpx.AsyncClient
) -> None:
    """A revision deployed without --service-account runs as the Compute default account the server filled in."""
    owner = iam.create_account(ctx.store, "deployer")
    iam.grant_project_role(ctx.store, "roles/owner", f"serviceAccount:{owner}")
    token, _ = ctx.issuer.mint_access_token(f"serviceAccount:{owner}")
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "cloudgate-local"},
        "spec": {"template": {"spec": {"containers": [{"image": "us-docker.pkg.dev/p/r/api"}]}}},
    }
    path = "/run/apis/serving.knative.dev/v1/namespaces/cloudgate-local/services"
    body = (await google.post(path, json=service, headers={"Authorization": f"Bearer {token}"})).json()
    revision = body["status"]["latestCreatedRevisionName"]
    email = f"/revisions/{revision}/computeMetadata/v1/instance/service-accounts/default/email"
    answer = await google.get(email, headers=_FLAVOR)
    assert answer.text == body["spec"]["template"]["spec"]["serviceAccountName"] != ctx.store.current().metadata_account
