"""Turning a failed response into an error that says what to do.

Two parties can refuse a call: Cloud Run's IAM front end (before the container sees it; 401 for a token it
does not accept, often a wrong audience, 403 for a principal without ``roles/run.invoker``) and the service
itself (its JSON bodies are ``{"error": code, "detail": message}``: a missing, expired or revoked API key,
a missing scope). The hint depends on which one answered.
"""

from __future__ import annotations

from typing import Any

import httpx

from cloudgate.client.tokens import IdToken
from cloudgate.errors import RequestError

_MAX_DETAIL = 300


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
    who = _principal(token)
    if status == 401:
        return RequestError(
            f"{what}: Cloud Run did not accept the ID token",
            status=status,
            hint=(
                f"the token was for audience {audience!r} ({who}). Cloud Run accepts the service's own URL and its "
                "custom audiences: if you call it through another name, pass --audience with the run.app URL"
            ),
        )
    if status == 403:
        return RequestError(
            f"{what}: {who} may not invoke this service",
            status=status,
            hint=(
                "grant it roles/run.invoker: `gcloud run services add-iam-policy-binding SERVICE "
                "--member=serviceAccount:EMAIL --role=roles/run.invoker` (user:EMAIL for a person)"
            ),
        )
    return RequestError(f"{what}{_text_detail(response)}", status=status, hint=_status_hint(response))


def _principal(token: IdToken | None) -> str:
    if token is None:
        return "no token was sent"
    who = token.email or "the caller"
    return f"{who}, from {token.source}" if token.source else who


def _service_hint(status: int, code: str, detail: str) -> str | None:
    text = f"{code} {detail}".lower()
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
