"""The IAP gate in front of a service with ``--iap``: sign-in cookie, redirect targets, header stripping, the
accessor check and the agent's invoker check (in-process; the browser flow runs in ``tests/e2e/test_iap_browser.py``).

A front end without a running revision answers 503 once a request passed every check, so 503 means "forwarded".
The clocks (sessions and tokens) are injected: time moves without sleeping.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from cloudgate.emulator.core import iap
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.iap_sessions import SESSION_LIFETIME_S, IapSessions
from cloudgate.emulator.core.tokens import TokenIssuer
from cloudgate.emulator.identity import iam
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from cloudgate.emulator.serving.iap_gate import SIGNIN_PATH, IapGate, cookie_suffix, safe_continue

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9"
ALICE = "alice@example.com"
MALLORY = "mallory@example.com"
NOW = 1_700_000_000.0
HTML = {"Accept": "text/html,*/*"}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(ctx: EmulatorContext) -> Clock:
    clock = Clock()
    ctx.iap_sessions = IapSessions(clock=clock)
    ctx.issuer = TokenIssuer(ctx.store, ctx.keys, ctx.counters, clock=clock)
    return clock


@pytest.fixture
def service(ctx: EmulatorContext, clock: Clock) -> str:
    """``api`` with IAP on, the IAP agent invoker, alice an accessor, mallory a user without the role."""
    iam.ensure_service(ctx.store, "api", url=URL)
    with ctx.store.edit() as state:
        state.services["api"].iap = True
        state.services["api"].region = "us-central1"
        agent = iap.agent_member(state.project_number)
        state.services["api"].bindings["roles/run.invoker"] = [agent]
        state.iap_bindings["api"] = {iap.ACCESSOR_ROLE: [f"user:{ALICE}"]}
    for email in (ALICE, MALLORY):
        iam.create_user(ctx.store, email, token_uri=ctx.token_url)
    return "api"


@pytest.fixture
async def client(ctx: EmulatorContext, service: str) -> AsyncIterator[httpx.AsyncClient]:
    frontend = CloudRunFrontend(ctx, service)
    transport = httpx.ASGITransport(app=frontend)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=URL) as http:
        yield http
    await frontend.aclose()


async def _sign_in(client: httpx.AsyncClient, email: str, target: str = "/docs") -> httpx.Response:
    chooser = await client.get(SIGNIN_PATH, params={"continue": target}, headers=HTML)
    xsrf = re.search(r"name='xsrf' value='([^']+)'", chooser.text)
    assert xsrf is not None
    form = {"email": email, "continue": target, "xsrf": xsrf.group(1)}
    return await client.post(SIGNIN_PATH, data=form, headers={"Origin": URL})


def _scope(headers: list[tuple[bytes, bytes]], path: str = "/") -> dict[str, Any]:
    base = [(b"host", b"127.0.0.1:9")]
    return {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": base + headers}


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_a_browser_without_a_session_is_redirected_to_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/docs?x=1", headers=HTML)
    assert (answer.status_code, answer.headers["location"]) == (302, f"{SIGNIN_PATH}?continue=%2Fdocs%3Fx%3D1")


async def test_a_non_browser_without_credentials_gets_401(client: httpx.AsyncClient) -> None:
    assert (await client.post("/items", json={})).status_code == 401


async def test_the_chooser_lists_the_directory_users(client: httpx.AsyncClient) -> None:
    page = (await client.get(SIGNIN_PATH, headers=HTML)).text
    assert ALICE in page and MALLORY in page and "type='password'" not in page


async def test_signing_in_sets_an_httponly_lax_cookie_and_returns_to_the_page(client: httpx.AsyncClient) -> None:
    answer = await _sign_in(client, ALICE, "/docs?x=1")
    cookie = next(v for v in answer.headers.get_list("set-cookie") if "AUTH_TOKEN" in v)
    assert (answer.status_code, answer.headers["location"]) == (302, "/docs?x=1")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Max-Age={SESSION_LIFETIME_S}" in cookie


async def test_an_accessor_with_a_session_is_forwarded(client: httpx.AsyncClient) -> None:
    await _sign_in(client, ALICE)
    assert (await client.get("/docs", headers=HTML)).status_code == 503  # past IAP and the invoker check


async def test_a_user_without_the_accessor_role_gets_iaps_403(client: httpx.AsyncClient) -> None:
    await _sign_in(client, MALLORY)
    answer = await client.get("/docs", headers=HTML)
    assert answer.status_code == 403 and "You don't have access" in answer.text


async def test_without_the_agents_invoker_grant_the_invoker_check_refuses(
    ctx: EmulatorContext, client: httpx.AsyncClient
) -> None:
    with ctx.store.edit() as state:
        state.services["api"].bindings.clear()
    await _sign_in(client, ALICE)
    answer = await client.get("/docs", headers=HTML)
    assert answer.status_code == 403 and "Your client does not have permission" in answer.text


async def test_a_session_ends_after_its_lifetime(clock: Clock, client: httpx.AsyncClient) -> None:
    await _sign_in(client, ALICE)
    clock.now += SESSION_LIFETIME_S
    assert (await client.get("/docs", headers=HTML)).status_code == 302


async def test_signing_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await _sign_in(client, ALICE)
    assert (await client.get("/_gcp_iap/clear_login_cookie", headers=HTML)).status_code == 200
    assert (await client.get("/docs", headers=HTML)).status_code == 302


async def test_a_session_of_another_service_is_not_accepted(ctx: EmulatorContext, client: httpx.AsyncClient) -> None:
    token = ctx.iap_sessions.create(f"user:{ALICE}", ALICE, "1", "other")
    client.cookies.set(f"GCP_IAP_AUTH_TOKEN_{cookie_suffix('api')}", token)
    assert (await client.get("/docs", headers=HTML)).status_code == 302


async def test_sign_in_without_the_choosers_xsrf_token_is_refused(client: httpx.AsyncClient) -> None:
    form = {"email": ALICE, "continue": "/", "xsrf": "guess"}
    assert (await client.post(SIGNIN_PATH, data=form, headers={"Origin": URL})).status_code == 403


async def test_sign_in_from_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    await client.get(SIGNIN_PATH, headers=HTML)
    form = {"email": ALICE, "continue": "/", "xsrf": "x"}
    answer = await client.post(SIGNIN_PATH, data=form, headers={"Origin": "http://127.0.0.1:10"})
    assert answer.status_code == 403 and "Cross-site" in answer.text


async def test_a_rebound_host_name_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.get(SIGNIN_PATH, headers={**HTML, "Host": "attacker.example:9"})).status_code == 421


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/docs?x=1", "/docs?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        ("/_gcp_iap/signin", "/"),
        ("docs", "/"),
        (None, "/"),
    ],
)
def test_only_same_origin_paths_are_redirect_targets(given: str | None, kept: str) -> None:
    assert safe_continue(given) == kept


async def test_caller_sent_iap_headers_are_replaced(ctx: EmulatorContext, service: str) -> None:
    token = ctx.iap_sessions.create(f"user:{ALICE}", ALICE, "77", "api")
    forged = [
        (b"x-goog-iap-jwt-assertion", b"forged"), (b"x-goog-authenticated-user-email", b"accounts.google.com:x@y"),
        (b"x-goog-authenticated-user-id", b"accounts.google.com:1"), (b"x-serverless-authorization", b"Bearer f"),
        (b"cookie", f"a=1; GCP_IAP_AUTH_TOKEN_{cookie_suffix('api')}={token}".encode()),
    ]  # fmt: skip
    scope = _scope(forged)
    assert await IapGate(ctx).admit(scope, _no_body, ctx.store.current(), "api") is None
    sent = {name.decode(): value.decode() for name, value in scope["headers"]}
    assert sent["x-goog-authenticated-user-email"] == f"accounts.google.com:{ALICE}"
    assert sent["x-goog-authenticated-user-id"] == "accounts.google.com:77"
    assert sent["cookie"] == "a=1"
    assert [name for name, _ in scope["headers"]].count(b"x-goog-iap-jwt-assertion") == 1


async def test_the_assertion_is_iaps_for_this_service(ctx: EmulatorContext, service: str) -> None:
    token = ctx.iap_sessions.create(f"user:{ALICE}", ALICE, "77", "api")
    scope = _scope([(b"cookie", f"GCP_IAP_AUTH_TOKEN_{cookie_suffix('api')}={token}".encode())])
    await IapGate(ctx).admit(scope, _no_body, ctx.store.current(), "api")
    assertion = dict(scope["headers"])[b"x-goog-iap-jwt-assertion"].decode()
    key = jwt.PyJWK(ctx.iap_signing_keys().jwks()["keys"][0]).key
    audience = f"/projects/{ctx.store.current().project_number}/locations/us-central1/services/api"
    claims = jwt.decode(
        assertion, key, algorithms=["ES256"], audience=audience, options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"iss": "https://cloud.google.com/iap", "aud": audience, "sub": "accounts.google.com:77",
                      "email": ALICE, "iat": int(NOW), "exp": int(NOW) + 600}  # fmt: skip


async def test_a_programmatic_caller_with_a_token_for_iaps_client_passes(
    ctx: EmulatorContext, client: httpx.AsyncClient
) -> None:
    token = ctx.issuer.mint_id_token(ALICE, iap.oauth_client_id(ctx.store.current().project_number))
    assert (await client.post("/items", headers={"Proxy-Authorization": f"Bearer {token}"})).status_code == 503


async def test_a_token_for_another_audience_is_refused_by_iap(ctx: EmulatorContext, client: httpx.AsyncClient) -> None:
    token = ctx.issuer.mint_id_token(ALICE, URL)
    assert (await client.post("/items", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_a_service_without_iap_never_sees_iap_cookies(ctx: EmulatorContext, service: str) -> None:
    with ctx.store.edit() as state:
        state.services["api"].iap = False
    scope = _scope([(b"cookie", b"GCP_IAP_AUTH_TOKEN_X=secret; theme=dark")])
    assert await IapGate(ctx).admit(scope, _no_body, ctx.store.current(), "api") is None
    assert dict(scope["headers"])[b"cookie"] == b"theme=dark"


async def test_without_the_invoker_check_the_agents_token_still_loses_its_signature(
    ctx: EmulatorContext, service: str
) -> None:
    with ctx.store.edit() as state:
        state.services["api"].invoker_iam_check = False
    token = ctx.iap_sessions.create(f"user:{ALICE}", ALICE, "77", "api")
    scope = _scope([(b"cookie", f"GCP_IAP_AUTH_TOKEN_{cookie_suffix('api')}={token}".encode())])
    await IapGate(ctx).admit(scope, _no_body, ctx.store.current(), "api")
    assert dict(scope["headers"])[b"x-serverless-authorization"].endswith(b".SIGNATURE_REMOVED_BY_GOOGLE")


async def test_an_assertion_is_signed_again_after_a_minute(ctx: EmulatorContext, service: str, clock: Clock) -> None:
    token = ctx.iap_sessions.create(f"user:{ALICE}", ALICE, "77", "api")
    gate = IapGate(ctx)
    sent = []
    for step in (0, 59, 60):
        clock.now = NOW + step
        scope = _scope([(b"cookie", f"GCP_IAP_AUTH_TOKEN_{cookie_suffix('api')}={token}".encode())])
        await gate.admit(scope, _no_body, ctx.store.current(), "api")
        sent.append(
            jwt.decode(dict(scope["headers"])[b"x-goog-iap-jwt-assertion"], options={"verify_signature": False})
        )
    assert [claims["iat"] for claims in sent] == [int(NOW), int(NOW), int(NOW) + 60]
