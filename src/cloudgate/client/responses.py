"""Turning a failed response into an error that says what to do.

Two parties can refuse a call: Cloud Run's IAM front end (before the container sees it; 401 for a token it
does not accept, often a wrong audience, 403 for a principal without ``roles/run.invoker``) and the service
itself (its JSON bodies are ``{"error": code, "reason": reason, "detail": message}``: a missing, expired or revoked
API key, a missing scope). The hint depends on which one answered, and on the service's ``reason`` code
(``cloudgate.codes``), never on its message: messages may be reworded. A request that got no response at all
(``transport_error``) says what went wrong with the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cloudgate import codes
from cloudgate.client.tokens import IdToken
from cloudgate.errors import RequestError

_MAX_DETAIL = 300
_PASS_A_KEY = "pass a valid API key with --api-key or CLOUDGATE_API_KEY (`cloudgate keys create` makes one)"  # noqa: S105 - a hint, not a secret
_NEW_KEY = "the API key has expired or was revoked: create a new one (`cloudgate keys create`)"
#: A refusal's ``reason`` -> the hint for it (a missing scope is handled apart: its hint names the scope).
_REASON_HINTS = {
    codes.API_KEY_MISSING: _PASS_A_KEY,
    codes.API_KEY_INVALID: _PASS_A_KEY,
    codes.API_KEY_EXPIRED: _NEW_KEY,
    codes.API_KEY_REVOKED: _NEW_KEY,
    codes.ID_TOKEN_MISSING: "this route needs a Google ID token: give the client credentials (--credentials)",
    codes.ID_TOKEN_INVALID: "the service did not accept the Google ID token: check --credentials and --audience",
    codes.IAP_ASSERTION_MISSING: "this route needs a person signed in through Identity-Aware Proxy: open it in a "
    "browser through IAP (the service URL with IAP on); IAP's unsigned X-Goog-Authenticated-User-* headers alone "
    "do not count",
    codes.IAP_ASSERTION_INVALID: "the service did not accept the IAP assertion: the request did not come through "
    "this service's IAP, or CLOUDGATE_IAP_AUDIENCE / CLOUDGATE_IAP_JWKS_URL do not match it",
    codes.IAP_OFF: "this route needs an IAP sign-in, but the service has no CLOUDGATE_IAP_AUDIENCE "
    "(cloudgate deploy --iap sets it)",
    codes.PRINCIPAL_NOT_ALLOWED: "this identity is not in the service's CLOUDGATE_ALLOWED_PRINCIPALS",
    codes.IDENTITY_OFF: "this route needs a Google identity, but the service runs with CLOUDGATE_IDENTITY=off",
    codes.THROTTLED: "too many failed attempts: wait for the Retry-After time, then try again",
}
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: What a ``ConnectError``'s text says (OS and TLS library wording) -> what it means to the user.
_CONNECT_FAILURES = (
    (("refused",), "connection refused"),
    (("ssl", "tls", "certificate"), "TLS handshake failed"),
    (("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo", "no address"),
     "name not resolved"),
    (("unreachable", "no route"), "network unreachable"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServiceRefusal:
    """The service's own error body: ``error`` and ``reason`` codes, a missing ``scope``, and words for people."""

    error: str
    detail: str
    reason: str | None = None
    scope: str | None = None


def service_error(response: httpx.Response) -> ServiceRefusal | None:
    """The refusal when the body is the service's own error shape, else ``None`` (the front end answered)."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body):
        return None
    reason, scope = body.get("reason"), body.get("scope")
    return ServiceRefusal(
        error=body["error"],
        detail=str(body["detail"])[:_MAX_DETAIL],
        reason=reason if isinstance(reason, str) else None,
        scope=scope[:100] if isinstance(scope, str) else None,
    )


def request_error(response: httpx.Response, *, audience: str | None, token: IdToken | None) -> RequestError:
    """The error for a non-2xx ``response``, with a hint for the usual causes."""
    request = response.request
    status = response.status_code
    what = f"{request.method} {request.url.copy_with(query=None)} answered HTTP {status}"
    refusal = service_error(response)
    if refusal is not None:
        return RequestError(f"{what}: {refusal.detail}", status=status, hint=_service_hint(refusal))
    if status == 401:
        return RequestError(
            f"{what}: Cloud Run did not accept the ID token",
            status=status,
            hint=_audience_hint(request.url, audience, token),
        )
    if status == 403:
        return RequestError(
            f"{what}: {_principal(token)} may not invoke this service",
            status=status,
            hint=(
                "grant it roles/run.invoker: `gcloud run services add-iam-policy-binding SERVICE "
                "--member=serviceAccount:EMAIL --role=roles/run.invoker` (user:EMAIL for a person)"
            ),
        )
    return RequestError(f"{what}{_text_detail(response)}", status=status, hint=_status_hint(response))


def transport_error(method: str, url: httpx.URL, exc: httpx.TransportError) -> RequestError:
    """The error for a request that got no response: what failed, on which URL, and what to check."""
    target = url.copy_with(query=None)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        message = f"could not connect to {target} ({transport_failure(exc)})"
    else:
        message = f"{method} {target} failed: {transport_failure(exc)}"
    return RequestError(message, hint="check the URL and that the service (or `cloudgate dev`) is running")


def transport_failure(exc: httpx.HTTPError) -> str:
    """A few words on why a connection or exchange failed, e.g. ``connection refused``."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        for needles, meaning in _CONNECT_FAILURES:
            if any(needle in text for needle in needles):
                return meaning
        return "ConnectError"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection or answered invalid HTTP"
    return type(exc).__name__


def _principal(token: IdToken | None) -> str:
    if token is None:
        return "no token was sent"
    who = token.email or "the caller"
    return f"{who} (from {token.source})" if token.source else who


def _audience_hint(url: httpx.URL, audience: str | None, token: IdToken | None) -> str:
    sent = f"the token of {_principal(token)} was for audience {audience!r}" if token else _principal(token)
    if url.host in _LOCAL_HOSTS:
        # Locally (the emulator, `cloudgate dev`) there is no run.app URL: the name in the URL is what must match.
        return (
            f"{sent}; it must match the service URL exactly as the service knows it (http://127.0.0.1:8080 and "
            "http://localhost:8080 are different audiences): call the service by that URL, or pass --audience with it"
        )
    return (
        f"{sent}. Cloud Run accepts the service's own URL and its custom audiences: if you call it through "
        "another name, pass --audience with the run.app URL"
    )


def _service_hint(refusal: ServiceRefusal) -> str | None:
    if refusal.reason == codes.SCOPE_MISSING:
        if refusal.scope is None:
            return "the API key lacks the scope this route needs: create a key with that scope"
        return (
            f"the API key lacks the scope {refusal.scope!r}: create a key with it "
            f"(`cloudgate keys create NAME --scope {refusal.scope}`)"
        )
    return _REASON_HINTS.get(refusal.reason or "")


def _status_hint(response: httpx.Response) -> str | None:
    status = response.status_code
    if status == 429:
        return "the service is throttling you; slow down or try later"
    if status in (502, 503, 504):
        return "the service was unavailable after several tries; try again later"
    if status == 500 and not response.content:
        return "an empty 500 from Cloud Run often means a response over 32 MiB that was not streamed"
    return None


def _text_detail(response: httpx.Response) -> str:
    try:
        text = response.text.strip()
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    return f": {text[:_MAX_DETAIL]}" if text and len(text) < 2000 and "<html" not in text.lower() else ""
