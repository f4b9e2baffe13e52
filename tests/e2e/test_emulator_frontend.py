"""The Cloud Run front end, end to end: IAM check, header rules, size limits, timeout, faults, streaming.

Exact codes (documented in docs/emulator.md): invoker 200; non-invoker 403; no, forged, expired,
wrong-audience or access token 401 (with ``WWW-Authenticate: Bearer``); request over 32 MiB 413; non-streamed
response over 32 MiB an empty 500; request timeout 504; injected faults the chosen status.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import google.auth.transport.requests
import httpx
import jwt
import pytest
from google.oauth2 import service_account

from cloudgate.emulator.core.keys import SigningKeys, generate_rsa_key
from cloudgate.google import CLOUD_RUN_MAX_BYTES, INVOKER_ROLE
from tests.e2e.stack import SERVICE, EmulatorStack

pytestmark = pytest.mark.e2e

_MIB = 1024 * 1024


def _token(stack: EmulatorStack, key: str = "invoker", audience: str | None = None) -> str:
    path = stack.invoker_key if key == "invoker" else stack.outsider_key
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(path), target_audience=audience or stack.url
    )
    creds.refresh(google.auth.transport.requests.Request())
    return str(creds.token)


@pytest.fixture(scope="module")
def token(emulator_stack: EmulatorStack) -> str:
    return _token(emulator_stack)


@pytest.fixture
def client(emulator_stack: EmulatorStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_stack.url, timeout=30) as http:
        yield http


def _bearer(token: str) -> dict[str, str]:
    return {"X-Serverless-Authorization": f"Bearer {token}"}


def test_invoker_reaches_the_container(client: httpx.Client, token: str) -> None:
    """A token of an account with roles/run.invoker passes: 200 from the container."""
    response = client.get("/echo", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json()["path"] == "/echo"


def test_authorization_header_works_alone(client: httpx.Client, token: str) -> None:
    """Without X-Serverless-Authorization, the token in Authorization is checked."""
    assert client.get("/echo", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_non_invoker_is_refused_before_the_container(emulator_stack: EmulatorStack, client: httpx.Client) -> None:
    """A valid token of an account without the role gets 403, and the container never sees the request."""
    outsider = _token(emulator_stack, "outsider")
    forwarded = sum(emulator_stack.counters()["frontend_forwarded"].values())
    response = client.get("/echo", headers=_bearer(outsider))
    assert response.status_code == 403
    assert sum(emulator_stack.counters()["frontend_forwarded"].values()) == forwarded


def _forged(token: str) -> str:
    """The same header and claims, signed by a key the emulator never issued."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, generate_rsa_key(), algorithm="RS256", headers={"kid": header["kid"]})


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("garbage", "malformed_token"),
        ("forged", "bad_signature"),
        ("wrong_audience", "wrong_audience"),
        ("access_token", "malformed_token"),
    ],
)
def test_bad_tokens_get_401(
    emulator_stack: EmulatorStack, client: httpx.Client, token: str, case: str, reason: str
) -> None:
    """Garbage, a forged signature, another audience or an access token: 401 with WWW-Authenticate."""
    if case == "garbage":
        headers = _bearer("not-a-jwt")
    elif case == "forged":
        headers = _bearer(_forged(token))
    elif case == "wrong_audience":
        headers = _bearer(_token(emulator_stack, audience="https://elsewhere.example"))
    else:
        creds = service_account.Credentials.from_service_account_file(
            str(emulator_stack.invoker_key), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        creds.refresh(google.auth.transport.requests.Request())
        headers = _bearer(creds.token)
    before = emulator_stack.counter("frontend_refused", reason)
    response = client.get("/echo", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert emulator_stack.counter("frontend_refused", reason) == before + 1


def test_expired_token_gets_401(emulator_stack: EmulatorStack, client: httpx.Client) -> None:
    """A token past its exp is refused: signed with the emulator's own key, so only its times are wrong."""
    claims = jwt.decode(_token(emulator_stack), options={"verify_signature": False})
    expired = SigningKeys(emulator_stack.state_dir / "signing").sign(
        {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600}
    )
    before = emulator_stack.counter("frontend_refused", "expired_token")
    assert client.get("/echo", headers=_bearer(expired)).status_code == 401
    assert emulator_stack.counter("frontend_refused", "expired_token") == before + 1


def test_serverless_header_wins_and_authorization_passes_through(client: httpx.Client, token: str) -> None:
    """With both headers, only X-Serverless-Authorization is checked; Authorization reaches the app unchanged."""
    basic = "Basic ZG9jczpzZWNyZXQ="
    response = client.get("/echo", headers={**_bearer(token), "Authorization": basic})
    assert response.status_code == 200
    assert response.json()["headers"]["authorization"] == [basic]
    refused = client.get(
        "/echo", headers={"X-Serverless-Authorization": "Bearer x", "Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401


def test_two_checked_headers_are_refused(emulator_stack: EmulatorStack, client: httpx.Client, token: str) -> None:
    """Two X-Serverless-Authorization headers get 401: a second, unverified token never reaches the app."""
    forged = _forged(token)
    headers = [("X-Serverless-Authorization", f"Bearer {token}"), ("X-Serverless-Authorization", f"Bearer {forged}")]
    assert client.get("/echo", headers=headers).status_code == 401


@pytest.mark.parametrize("header", ["X-Serverless-Authorization", "Authorization"])
def test_container_sees_token_with_signature_removed(client: httpx.Client, token: str, header: str) -> None:
    """The checked token is forwarded with its signature replaced by SIGNATURE_REMOVED_BY_GOOGLE."""
    response = client.get("/echo", headers={header: f"Bearer {token}"})
    seen = response.json()["headers"][header.lower()]
    head, payload, _ = token.split(".")
    assert seen == [f"Bearer {head}.{payload}.SIGNATURE_REMOVED_BY_GOOGLE"]


def test_custom_audience_is_accepted(emulator_stack: EmulatorStack, client: httpx.Client) -> None:
    """A token for a configured custom audience passes; the service URL stays accepted."""
    with emulator_stack.store.edit() as state:
        state.services[SERVICE].audiences = ["https://api.example.com"]
    try:
        custom = _token(emulator_stack, audience="https://api.example.com")
        assert client.get("/echo", headers=_bearer(custom)).status_code == 200
    finally:
        with emulator_stack.store.edit() as state:
            state.services[SERVICE].audiences = []
    assert client.get("/echo", headers=_bearer(custom)).status_code == 401


def test_no_token_gets_403(emulator_stack: EmulatorStack, client: httpx.Client) -> None:
    """A request without any token gets 403 from Cloud Run (401 is for a token that is bad), unforwarded."""
    before = emulator_stack.counter("frontend_refused", "missing_token")
    response = client.get("/echo")
    assert response.status_code == 403
    assert "does not have permission to get URL /echo" in response.text
    assert emulator_stack.counter("frontend_refused", "missing_token") == before + 1


def test_all_users_makes_the_service_public(emulator_stack: EmulatorStack, client: httpx.Client) -> None:
    """With allUsers holding roles/run.invoker, requests without a token reach the container."""
    with emulator_stack.store.edit() as state:
        state.services[SERVICE].bindings[INVOKER_ROLE].append("allUsers")
    try:
        assert client.get("/echo").status_code == 200
    finally:
        with emulator_stack.store.edit() as state:
            state.services[SERVICE].bindings[INVOKER_ROLE].remove("allUsers")
    assert client.get("/echo").status_code == 403


def test_trace_and_forwarding_headers_are_added(client: httpx.Client, token: str) -> None:
    """The container sees X-Cloud-Trace-Context, traceparent (same trace id), X-Forwarded-For and -Proto."""
    seen = client.get("/echo", headers=_bearer(token)).json()["headers"]
    cloud = re.fullmatch(r"([0-9a-f]{32})/(\d+);o=1", seen["x-cloud-trace-context"][0])
    parent = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", seen["traceparent"][0])
    assert cloud and parent and cloud.group(1) == parent.group(1)
    assert int(cloud.group(2)) == int(parent.group(2), 16)
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]


def test_incoming_trace_id_is_kept(client: httpx.Client, token: str) -> None:
    """A caller's traceparent trace id is propagated to the container."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**_bearer(token), "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    seen = client.get("/echo", headers=headers).json()["headers"]
    assert seen["traceparent"][0].split("-")[1] == trace
    assert seen["x-cloud-trace-context"][0].startswith(trace + "/")


def test_response_over_32_mib_becomes_empty_500(
    emulator_stack: EmulatorStack, client: httpx.Client, token: str
) -> None:
    """A non-streamed response of 32 MiB + 1 byte reaches the caller as an empty 500; exactly 32 MiB passes."""
    too_big = client.get(f"/big?bytes={CLOUD_RUN_MAX_BYTES + 1}", headers=_bearer(token))
    assert too_big.status_code == 500 and too_big.content == b""
    at_limit = client.get(f"/big?bytes={CLOUD_RUN_MAX_BYTES}", headers=_bearer(token))
    assert at_limit.status_code == 200 and len(at_limit.content) == CLOUD_RUN_MAX_BYTES


def test_streamed_response_over_32_mib_passes(client: httpx.Client, token: str) -> None:
    """A chunked response is not limited: 40 MiB arrive whole."""
    response = client.get(f"/stream?bytes={40 * _MIB}", headers=_bearer(token))
    assert response.status_code == 200 and len(response.content) == 40 * _MIB


def test_streaming_is_not_buffered(client: httpx.Client, token: str) -> None:
    """The first chunk arrives while the service still holds back the second (10 s later): nothing buffers the
    stream. (The margin is the whole 10 s, so a loaded machine cannot make this fail; the stream is left early.)"""
    started = time.monotonic()
    with client.stream("GET", "/stream?bytes=2&chunk=1&interval=10", headers=_bearer(token)) as response:
        first = next(response.iter_raw())
        first_at = time.monotonic() - started
    assert first == b"x" and first_at < 10


def test_request_over_32_mib_gets_413(emulator_stack: EmulatorStack, client: httpx.Client, token: str) -> None:
    """A request body over 32 MiB gets 413 (declared length or chunked); the container never answers it."""
    body = b"x" * (CLOUD_RUN_MAX_BYTES + 1)
    forwarded = sum(emulator_stack.counters()["frontend_forwarded"].values())
    assert client.post("/echo", content=body, headers=_bearer(token)).status_code == 413

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(body), _MIB):
            yield body[start : start + _MIB]

    assert client.post("/echo", content=chunked(), headers=_bearer(token)).status_code == 413
    assert sum(emulator_stack.counters()["frontend_forwarded"].values()) == forwarded
    ok = client.post("/echo", content=b"x" * _MIB, headers=_bearer(token))
    assert ok.status_code == 200 and ok.json()["body_bytes"] == _MIB


def test_request_timeout_gets_504(emulator_stack: EmulatorStack, client: httpx.Client, token: str) -> None:
    """A request running past the service's timeout gets 504 when the timeout expires."""
    emulator_stack.set_timeout(1)
    try:
        started = time.monotonic()
        response = client.get("/slow?seconds=60", headers=_bearer(token))
        elapsed = time.monotonic() - started
    finally:
        emulator_stack.set_timeout(300)
    assert response.status_code == 504
    assert 0.9 < elapsed < 30  # not before the timeout, and long before the service would have answered


def test_injected_faults_answer_then_clear(emulator_stack: EmulatorStack, client: httpx.Client, token: str) -> None:
    """After "fail the next 2 with 503", exactly two requests get 503, then service resumes."""
    emulator_stack.fail_next(2, 503)
    statuses = [client.get("/echo", headers=_bearer(token)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_id_tokens_are_counted_per_account_and_audience(emulator_stack: EmulatorStack) -> None:
    """Each minted ID token is counted once under its account and once under its audience."""
    audience = "https://counted.example"
    before = emulator_stack.counter("id_tokens_by_account", emulator_stack.invoker_email)
    _token(emulator_stack, audience=audience)
    _token(emulator_stack, audience=audience)
    assert emulator_stack.counter("id_tokens_by_audience", audience) == 2
    assert emulator_stack.counter("id_tokens_by_account", emulator_stack.invoker_email) == before + 2


def test_exactly_one_date_header_reaches_the_client(client: httpx.Client, token: str) -> None:
    """The container's Date passes through and the front end adds none; its own refusals carry one."""
    assert len(client.get("/echo", headers=_bearer(token)).headers.get_list("date")) == 1
    assert len(client.get("/echo").headers.get_list("date")) == 1


def test_asterisk_form_options_is_a_400(emulator_stack: EmulatorStack, token: str) -> None:
    """'OPTIONS * HTTP/1.1' names no resource to forward: a 400 page, not a 500 with a traceback."""
    import socket

    port = int(emulator_stack.url.rsplit(":", 1)[1])
    request = f"OPTIONS * HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:40]
    assert emulator_stack.counter("frontend_refused", "bad_request_target") >= 1
