"""The emulator's Cloud Run front end (IAM check, header rewriting, 32 MiB rules) and the service behind it.

Tests that need to see what the container receives use the echo service (``emulator`` fixture); tests of the
whole chain use ``cloudgate dev`` (``dev`` fixture: the example service in cloud-run mode).
"""

from __future__ import annotations

import socket

import httpx
import pytest

from cloudgate.google import SIGNATURE_REMOVED
from tests.e2e.stack import DevStack, EmulatorStack
from tests.security.conftest import basic, claims, emulator_kid, forged, id_token, recording_server, unsigned_jwt

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _raw(port: int, request: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes on one connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return data


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_no_bad_or_foreign_tokens_reach_the_container(emulator: EmulatorStack) -> None:
    """Attack: no token, a forged token naming the emulator's kid, alg none, an already-stripped token, a token for
    another audience, an access-token-like string, Basic. Secure: refused by the front end each time (403 when
    there is no bearer token at all, 401 for a bad one, as Cloud Run answers)."""
    kid = emulator_kid(emulator.emulator_url)
    other = id_token(emulator.invoker_key, "https://other-service.example")
    before = emulator.counter("frontend_forwarded", "200")
    for header in [
        None,
        f"Bearer {forged(kid, aud=emulator.url, email=emulator.invoker_email)}",
        f"Bearer {unsigned_jwt(claims(aud=emulator.url), header={'alg': 'none', 'kid': kid})}",
        f"Bearer {unsigned_jwt(claims(aud=emulator.url), header={'alg': 'RS256', 'kid': kid}, signature=SIGNATURE_REMOVED)}",
        f"Bearer {other}",
        "Bearer ya29.not-an-id-token",
        basic("dev", "password"),
        "Bearer",
    ]:
        for name in ("X-Serverless-Authorization", "Authorization"):
            headers = {} if header is None else {name: header}
            response = httpx.get(f"{emulator.url}/echo", headers=headers)
            no_bearer = header is None or not header.startswith("Bearer ") or header == "Bearer"
            assert response.status_code == (403 if no_bearer else 401), (name, header and header[:40])
            assert '"headers"' not in response.text  # the echo service's answer never comes back
    assert emulator.counter("frontend_forwarded", "200") == before


def test_a_principal_without_the_invoker_role_gets_403(emulator: EmulatorStack) -> None:
    """Attack: a genuine token of a service account without roles/run.invoker. Secure: 403, not forwarded."""
    token = id_token(emulator.outsider_key, emulator.url)
    response = httpx.get(f"{emulator.url}/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_duplicate_token_headers_are_refused(emulator: EmulatorStack) -> None:
    """Attack: two X-Serverless-Authorization (or two Authorization) headers, a good one and a forged one, hoping
    the front end checks one and the container reads the other. Secure: 401, nothing forwarded."""
    good = id_token(emulator.invoker_key, emulator.url)
    evil = unsigned_jwt(claims(aud=emulator.url, email="admin@victim.example"), signature=SIGNATURE_REMOVED)
    for name in ("X-Serverless-Authorization", "Authorization"):
        for pair in ([good, evil], [evil, good]):
            headers = [(name, f"Bearer {pair[0]}"), (name.lower(), f"Bearer {pair[1]}")]
            assert httpx.get(f"{emulator.url}/echo", headers=headers).status_code == 401


def test_the_checked_header_is_stripped_and_the_other_passes_unchanged(emulator: EmulatorStack) -> None:
    """Attack: a valid token in X-Serverless-Authorization plus a forged *stripped* token in Authorization.
    Secure (as Cloud Run): only the checked header is rewritten; the container sees the forged one as the caller
    sent it, so the service must read X-Serverless-Authorization (see the next test)."""
    good = id_token(emulator.invoker_key, emulator.url)
    evil = unsigned_jwt(claims(aud=emulator.url, email="admin@victim.example"), signature=SIGNATURE_REMOVED)
    response = httpx.get(
        f"{emulator.url}/echo",
        headers={"X-Serverless-Authorization": f"Bearer {good}", "Authorization": f"Bearer {evil}"},
    )
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["x-serverless-authorization"][0].endswith("." + SIGNATURE_REMOVED)
    assert seen["x-serverless-authorization"][0] != f"Bearer {good}"  # the real signature never reaches the app


def test_the_service_reads_the_identity_cloud_run_checked(dev: DevStack) -> None:
    """Attack, whole chain: valid invoker token in X-Serverless-Authorization, forged stripped token claiming
    another email in Authorization. Secure: the service reports the checked identity, never the forged one."""
    good = id_token(dev.invoker_key, dev.url)
    evil = unsigned_jwt(claims(aud=dev.url, email="admin@victim.example"), signature=SIGNATURE_REMOVED)
    response = httpx.get(
        f"{dev.url}/v1/whoami",
        headers={
            "X-Serverless-Authorization": f"Bearer {good}",
            "Authorization": f"Bearer {evil}",
            "X-API-Key": dev.api_key,
        },
    )
    assert response.status_code == 200
    assert response.json()["email"] == dev.session["invoker_email"]


def test_docs_through_the_front_end_need_both_checks(dev: DevStack) -> None:
    """Attack: open the docs through the front end with only the Basic login (no ID token), or only the token.
    Secure: 403 from the front end (no ID token), then 401 Basic from the service; both together open the docs."""
    login = basic(dev.docs_user, dev.docs_password)
    token = id_token(dev.invoker_key, dev.url)
    assert httpx.get(f"{dev.url}/docs", headers={"Authorization": login}).status_code == 403
    only_token = httpx.get(f"{dev.url}/docs", headers={"X-Serverless-Authorization": f"Bearer {token}"})
    assert only_token.status_code == 401
    assert only_token.headers["www-authenticate"].startswith("Basic")
    both = httpx.get(
        f"{dev.url}/docs", headers={"X-Serverless-Authorization": f"Bearer {token}", "Authorization": login}
    )
    assert both.status_code == 200


def test_declared_oversize_request_is_refused_before_any_body(emulator: EmulatorStack) -> None:
    """Attack: declare a body of 32 MiB + 1 and send nothing (a cheap way to tie up the container).
    Secure: 413 at once from the front end, the container never sees it."""
    token = id_token(emulator.invoker_key, emulator.url)
    request = (
        f"POST /echo HTTP/1.1\r\nHost: x\r\nX-Serverless-Authorization: Bearer {token}\r\n"
        f"Content-Length: {32 * MiB + 1}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _raw(_port(emulator.url), request)
    assert answer.startswith(b"HTTP/1.1 413")


def test_streamed_oversize_request_is_refused(emulator: EmulatorStack) -> None:
    """Attack: a chunked body that passes 32 MiB (no Content-Length to check up front). Secure: 413."""
    token = id_token(emulator.invoker_key, emulator.url)

    def body() -> object:
        chunk = b"x" * MiB
        for _ in range(33):
            yield chunk

    response = httpx.post(
        f"{emulator.url}/echo", headers={"X-Serverless-Authorization": f"Bearer {token}"}, content=body(), timeout=30
    )
    assert response.status_code == 413


def test_content_length_plus_chunked_cannot_smuggle(emulator: EmulatorStack) -> None:
    """Attack: request smuggling with both Content-Length and Transfer-Encoding, the chunked body hiding a second
    request without a token. Secure: refused (400) or handled as one request; the hidden one is never answered."""
    token = id_token(emulator.invoker_key, emulator.url)
    hidden = b"GET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (
        (
            f"POST /echo HTTP/1.1\r\nHost: x\r\nX-Serverless-Authorization: Bearer {token}\r\n"
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + b"0\r\n\r\n"
        + hidden
    )
    answer = _raw(_port(emulator.url), request)
    assert answer.count(b"HTTP/1.1 200") <= 1
    assert b"smuggled" not in answer


def test_oversize_non_streamed_response_becomes_an_empty_500(emulator: EmulatorStack) -> None:
    """Cloud Run's rule, which an app must not rely on being lenient: a Content-Length over 32 MiB is an empty
    500; streamed (chunked) answers of any size pass."""
    token = {"X-Serverless-Authorization": f"Bearer {id_token(emulator.invoker_key, emulator.url)}"}
    big = httpx.get(f"{emulator.url}/big", params={"bytes": 32 * MiB + 1}, headers=token, timeout=30)
    assert big.status_code == 500
    assert big.content == b""


def test_front_end_appends_the_real_peer_not_a_forged_one(emulator: EmulatorStack) -> None:
    """Attack: send X-Forwarded-For: 6.6.6.6 through the front end. Cloud Run appends the address it saw, so the
    rightmost entry (what the service trusts) must be the real peer (127.0.0.1). Secure: rightmost == 127.0.0.1."""
    token = id_token(emulator.invoker_key, emulator.url)
    response = httpx.get(
        f"{emulator.url}/echo",
        headers={"X-Serverless-Authorization": f"Bearer {token}", "X-Forwarded-For": "6.6.6.6"},
    )
    chain = response.json()["headers"]["x-forwarded-for"][-1]
    assert chain.rsplit(",", 1)[-1].strip() == "127.0.0.1"


def test_docs_throttle_cannot_be_bypassed_through_the_front_end(dev: DevStack) -> None:
    """Attack: 7 wrong docs logins through the front end, each with a different X-Forwarded-For. Secure: the
    throttle still applies (a 429 among them), since the front end appends the real peer address."""
    token = id_token(dev.invoker_key, dev.url)
    codes = []
    for index in range(7):
        headers = {
            "X-Serverless-Authorization": f"Bearer {token}",
            "Authorization": basic(dev.docs_user, f"wrong{index}"),
            "X-Forwarded-For": f"192.0.2.{index + 1}",
        }
        codes.append(httpx.get(f"{dev.url}/docs", headers=headers, timeout=10).status_code)
    assert 429 in codes, codes


def test_asterisk_form_request_is_a_clean_4xx(emulator: EmulatorStack) -> None:
    """Attack: 'OPTIONS * HTTP/1.1' with a valid token. Secure: a 4xx (or the container's answer), never 500."""
    token = id_token(emulator.invoker_key, emulator.url)
    request = (
        f"OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Serverless-Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _raw(_port(emulator.url), request)
    assert not answer.startswith(b"HTTP/1.1 5"), answer[:40]


def test_request_target_tricks_do_not_reach_other_hosts(emulator: EmulatorStack) -> None:
    """Attack: absolute-form and '//host' request targets to make the front end forward elsewhere (SSRF).
    Secure: the container (echo) answers or 4xx; nothing is sent to the other port."""
    token = id_token(emulator.invoker_key, emulator.url)
    with recording_server() as (other, hits):
        for target in (f"@127.0.0.1:{other}/x", f"//127.0.0.1:{other}/x", f"http://127.0.0.1:{other}/x"):
            request = (
                f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Serverless-Authorization: Bearer {token}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            answer = _raw(_port(emulator.url), request)
            assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.1 2")), answer[:40]
    assert hits == []
