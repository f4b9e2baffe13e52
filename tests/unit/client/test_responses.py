"""Error messages and hints for failed calls: which party refused, and what the user should do next."""

from __future__ import annotations

import time

import httpx
import pytest

from cloudgate.client.responses import request_error, transport_error
from cloudgate.client.tokens import IdToken

LOCAL = "http://127.0.0.1:8080"
REMOTE = "https://svc-abc-uc.a.run.app"
EMAIL = "dev-outsider@cloudgate-local.iam.gserviceaccount.com"


def _response(url: str, status: int, **body: object) -> httpx.Response:
    request = httpx.Request("GET", f"{url}/v1/datasets")
    if body:
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, html="<html>Error</html>", request=request)


def _token(source: str = "credentials file") -> IdToken:
    now = time.time()
    return IdToken("eyJ.secret.token", now, now + 3600, source, EMAIL)


def test_a_missing_scope_names_the_scope_and_the_command() -> None:
    """A 403 whose detail says the key "lacks the scope 'X'" gets the scope hint, not "pass a valid API key"."""
    detail = "API key 0123456789abcdef lacks the scope 'datasets:write'"
    error = request_error(_response(REMOTE, 403, error="forbidden", detail=detail), audience=REMOTE, token=None)
    assert error.hint is not None
    assert "cloudgate keys create NAME --scope datasets:write" in error.hint
    assert "pass a valid API key" not in error.hint


def test_a_bad_api_key_still_says_to_pass_one() -> None:
    detail = "missing or invalid API key"
    error = request_error(_response(REMOTE, 401, error="unauthorized", detail=detail), audience=REMOTE, token=None)
    assert error.hint is not None and "--api-key" in error.hint


def test_a_front_end_403_reads_as_a_sentence() -> None:
    """The principal and where its token came from read naturally, without a stray comma."""
    error = request_error(_response(LOCAL, 403), audience=LOCAL, token=_token())
    assert f"{EMAIL} (from credentials file) may not invoke this service" in str(error)
    assert ", from" not in str(error)


def test_a_local_401_explains_the_exact_audience_not_run_app() -> None:
    """On 127.0.0.1/localhost there is no run.app URL: the hint says the audience must match the URL exactly."""
    for url in (LOCAL, "http://localhost:8080"):
        error = request_error(_response(url, 401), audience="http://localhost:8080", token=_token())
        assert error.hint is not None
        assert "run.app" not in error.hint
        assert "http://127.0.0.1:8080 and http://localhost:8080 are different audiences" in error.hint
        assert "eyJ" not in str(error) + error.hint


def test_a_remote_401_still_points_at_the_run_app_url() -> None:
    error = request_error(_response(REMOTE, 401), audience="https://api.example.com", token=_token())
    assert error.hint is not None and "run.app" in error.hint and "'https://api.example.com'" in error.hint


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"), "TLS handshake failed"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), "name not resolved"),
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), "name not resolved"),
        (httpx.ConnectTimeout("timed out"), "timed out"),
    ],
)
def test_connection_failures_say_what_failed(exc: httpx.TransportError, reason: str) -> None:
    error = transport_error("GET", httpx.URL(f"{LOCAL}/v1/whoami?key=secret"), exc)
    assert str(error).splitlines()[0] == f"could not connect to {LOCAL}/v1/whoami ({reason})"
    assert error.hint is not None and "is running" in error.hint


def test_a_broken_exchange_is_not_called_a_connection_failure() -> None:
    error = transport_error("POST", httpx.URL(f"{LOCAL}/x"), httpx.ReadTimeout("timed out"))
    assert str(error).splitlines()[0] == f"POST {LOCAL}/x failed: no answer in time (ReadTimeout)"
