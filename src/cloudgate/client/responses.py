"""Turning a failed response into an error that says what to do.

Two parties can refuse a call: Cloud Run's IAM front end (before the container sees it; 401 for a token it
does not accept, often a wrong audience, 403 for a principal without ``roles/run.invoker``) and the service
itself (its JSON bodies are ``{"error": code, "detail": message}``: a missing, expired or revoked API key,
a missing scope). The hint depends on which one answered. A request that got no response at all
(``transport_error``) says what went wrong with the connection.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from cloudgate.client.tokens import IdToken
from cloudgate.errors import RequestError

_MAX_DETAIL = 300
_SCOPE = re.compile(r"lacks the scope '([^']+)'")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: What a ``ConnectError``'s text says (OS and TLS library wording) -> what it means to the user.
_CONNECT_FAILURES = (
    (("refused",), "connection refused"),
    (("ssl", "tls", "certificate"), "TLS handshake failed"),
    (("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo", "no address"),
     "name not resolved"),
    (("unreachable", "no route"), "network unreachable"),
)  # fmt: skip


def service_error(response: httpx.Response) -> tuple[str, str] | None:
    """``(code, detail)`` when the body is the service's own error shape, else ``None`` (the front end)."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body:
        return body["error"], str(body["detail"])[:_MAX_DETAIL]
    return None


def request_error(response: httpx.Response, *, audience: str | None, token: IdToken | None) -> RequestError:
    """The error for a non-2xx ``response``, with a hint for the usual causes."""
    request = response.request
    status = response.status_code
    what = f"{request.method} {request.url.copy_with(query=None)} answered HTTP {status}"
    from_service = service_error(response)
    if from_service is not None:
        code, detail = from_service
        return RequestError(f"{what}: {detail}", status=status, hint=_service_hint(status, code, detail))
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


def _service_hint(status: int, code: str, detail: str) -> str | None:
    text = f"{code} {detail}".lower()
    if status == 403 and (scope := _SCOPE.search(detail)):
        # Checked before the API-key wording below: this detail names the key too, but the key itself is fine.
        needed = scope.group(1)
        return (
            f"the API key lacks the scope {needed!r}: create a key with it "
            f"(`cloudgate keys create NAME --scope {needed}`)"
        )
    if "api key" in text or "api_key" in text or "apikey" in text:
        if "expired" in text or "revoked" in text:
            return "the API key has expired or was revoked: create a new one (`cloudgate keys create`)"
        return "pass a valid API key with --api-key or CLOUDGATE_API_KEY (`cloudgate keys create` makes one)"
    if status == 403:
        return "the API key lacks the scope this route needs: create a key with that scope"
    return None


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
