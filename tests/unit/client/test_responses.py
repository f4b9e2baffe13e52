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
    """A 403 with reason ``scope_missing`` gets the hint naming the scope from the body, not "pass a valid API key"."""
    body = {"error": "forbidden", "reason": "scope_missing", "scope": "datasets:write", "detail": "lacks a scope"}
    error = request_error(_response(REMOTE, 403, **body), audience=REMOTE, token=None)
    assert error.hint is not None
    assert "cloudgate keys create NAME --scope datasets:write" in error.hint
    assert "pass a valid API key" not in error.hint


def test_a_bad_api_key_still_says_to_pass_one() -> None:
    body = {"error": "unauthenticated", "reason": "api_key_invalid", "detail": "invalid API key"}
    error = request_error(_response(REMOTE, 401, **body), audience=REMOTE, token=None)
    assert error.hint is not None and "--api-key" in error.hint


_REFUSALS = [
    (401, {"error": "unauthenticated", "reason": "api_key_missing"}),
    (401, {"error": "unauthenticated", "reason": "api_key_invalid"}),
    (401, {"error": "unauthenticated", "reason": "api_key_expired"}),
    (401, {"error": "unauthenticated", "reason": "api_key_revoked"}),
    (401, {"error": "unauthenticated", "reason": "id_token_missing"}),
    (403, {"error": "forbidden", "reason": "scope_missing", "scope": "datasets:write"}),
    (403, {"error": "forbidden", "reason": "principal_not_allowed"}),
    (429, {"error": "too_many_requests", "reason": "throttled"}),
    (404, {"error": "not_found"}),
]
#: The words the service sends today, and rewordings that keep none of the phrases a regex could have matched.
_WORDINGS = [
    "API key 0123456789abcdef lacks the scope 'datasets:write'",
    "API key 0123456789abcdef is expired",
    "an API key is required in the X-API-Key header",
    "Nope.",
    "Ihr Schlüssel gilt nicht mehr",
]


@pytest.mark.parametrize(("status", "codes"), _REFUSALS)
def test_rewording_the_service_message_changes_nothing_but_the_message(status: int, codes: dict[str, str]) -> None:
    """The hint and status depend on the codes only: every wording of ``detail`` gives the same hint."""
    errors = [
        request_error(_response(REMOTE, status, **codes, detail=words), audience=REMOTE, token=None)
        for words in _WORDINGS
    ]
    assert {(error.status, error.hint) for error in errors} == {(errors[0].status, errors[0].hint)}
    assert all(words in str(error) for error, words in zip(errors, _WORDINGS, strict=True))


def test_each_reason_gets_its_own_hint() -> None:
    """A missing key, an expired key and a missing scope are told apart by their codes alone."""
    hints = {
        codes["reason"]: request_error(
            _response(REMOTE, status, **codes, detail="refused"), audience=REMOTE, token=None
        ).hint
        for status, codes in _REFUSALS[:6]
    }
    assert hints["api_key_missing"] == hints["api_key_invalid"]
    assert hints["api_key_expired"] == hints["api_key_revoked"]
    assert (
        len({hints["api_key_missing"], hints["api_key_expired"], hints["scope_missing"], hints["id_token_missing"]})
        == 4
    )


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


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        (401, "iap_assertion_missing", "Identity-Aware Proxy"),
        (401, "iap_assertion_invalid", "IAP assertion"),
        (403, "iap_off", "CLOUDGATE_IAP_AUDIENCE"),
    ],
)
def test_iap_refusals_get_hints_about_iap(status: int, reason: str, words: str) -> None:
    body = {"error": "unauthenticated" if status == 401 else "forbidden", "reason": reason, "detail": "refused"}
    error = request_error(_response(REMOTE, status, **body), audience=REMOTE, token=None)
    assert words in (error.hint or "")
