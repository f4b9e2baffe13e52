"""Step 7: the health route through the service URL, with an invoker's ID token (200) and without one (403).

The token comes from the deploying gcloud account (``gcloud auth print-identity-token``); when that account is
not one of the named invokers, or IAP is on (IAP answers before the invoker check, and an ID token for the URL
does not pass it), only the anonymous half is checked, and the report says so.
"""

from __future__ import annotations

import httpx

from cloudgate.google import SERVERLESS_AUTH_HEADER

_TIMEOUT_S = 30.0


def smoke_test(url: str, health_path: str, token: str | None) -> tuple[list[str], list[str]]:
    """``(problems, checked)``: what went wrong, and what was checked (for the progress line)."""
    problems, checked = [], []
    target = url.rstrip("/") + health_path
    with httpx.Client(timeout=_TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
        anonymous = _status(client, target, {})
        checked.append(f"anonymous {anonymous}")
        # Cloud Run answers 403 to a request without a token (401 is for a bad token); either is a refusal.
        if anonymous not in (401, 403):
            problems.append(f"GET {health_path} without a token answered {anonymous}, expected 403 (private service)")
        if token is not None:
            # The ID token is a secret: it goes in the header and nowhere else.
            invoker = _status(client, target, {SERVERLESS_AUTH_HEADER: f"Bearer {token}"})
            checked.append(f"invoker {invoker}")
            if invoker != 200:
                problems.append(f"GET {health_path} with an invoker's token answered {invoker}, expected 200")
    return problems, checked


def _status(client: httpx.Client, url: str, headers: dict[str, str]) -> int | str:
    try:
        return client.get(url, headers=headers).status_code
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
