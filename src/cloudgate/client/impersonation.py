"""Impersonation: mint an ID token for a service account with IAM Credentials ``generateIdToken``.

The caller authenticates with an OAuth access token of its own (a user's gcloud login, another service
account) holding ``roles/iam.serviceAccountTokenCreator`` on the target. Google recommends this over
downloaded keys. google-auth's ``impersonated_credentials.IDTokenCredentials`` hard-codes
``iamcredentials.googleapis.com``, so this module calls the endpoint itself; the base URL is configurable
(``CLOUDGATE_IAM_ENDPOINT``) so the local emulator can stand in.

Example::

    token = generate_id_token(access_token, "invoker@p.iam.gserviceaccount.com", "https://svc.a.run.app")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from cloudgate import env_vars
from cloudgate.client.tokens import IdToken
from cloudgate.errors import TokenSourceError

logger = logging.getLogger(__name__)

#: IAM Credentials API, as google-auth's ``iam._IAM_BASE_URL`` spells it.
DEFAULT_IAM_ENDPOINT = "https://iamcredentials.googleapis.com"
#: The scope an access token needs to call IAM Credentials.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_TIMEOUT_S = 30.0


def iam_endpoint() -> str:
    """The IAM Credentials base URL: ``CLOUDGATE_IAM_ENDPOINT`` or Google's."""
    return os.environ.get(env_vars.IAM_ENDPOINT, "").rstrip("/") or DEFAULT_IAM_ENDPOINT


def id_token_url(service_account: str, *, endpoint: str | None = None) -> str:
    """The ``generateIdToken`` URL of ``service_account``."""
    base = (endpoint or iam_endpoint()).rstrip("/")
    return f"{base}/v1/projects/-/serviceAccounts/{service_account}:generateIdToken"


def target_impersonation() -> str | None:
    """The service account to impersonate, from ``CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT`` or gcloud's own setting."""
    for name in (env_vars.IMPERSONATE_SERVICE_ACCOUNT, env_vars.CLOUDSDK_IMPERSONATE_SERVICE_ACCOUNT):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def adc_path() -> Path:
    """Where ``gcloud auth application-default login`` writes the user's credentials."""
    config = os.environ.get(env_vars.CLOUDSDK_CONFIG)
    base = Path(config) if config else Path.home() / ".config" / "gcloud"
    return base / "application_default_credentials.json"


def generate_id_token(
    access_token: str,
    service_account: str,
    audience: str,
    *,
    url: str | None = None,
    delegates: Sequence[str] = (),
    source: str = "impersonation",
    forbidden_hint: str | None = None,
) -> IdToken:
    """Call ``generateIdToken`` for ``service_account`` and ``audience``; errors say which role is missing
    (``forbidden_hint`` replaces the advice given on a 403)."""
    body: dict[str, Any] = {"audience": audience, "includeEmail": True}
    if delegates:
        body["delegates"] = [d if d.startswith("projects/") else f"projects/-/serviceAccounts/{d}" for d in delegates]
    target = url or id_token_url(service_account)
    try:
        response = httpx.post(
            target, json=body, headers={"Authorization": f"Bearer {access_token}"}, timeout=_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        raise TokenSourceError(
            f"could not reach IAM Credentials at {_origin(target)} to impersonate {service_account}: "
            f"{type(exc).__name__}",
            retryable=True,
        ) from exc
    if response.status_code == 200:
        try:
            value = response.json()["token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenSourceError("IAM Credentials answered generateIdToken without a token") from exc
        return IdToken.from_jwt(str(value), source=source)
    raise _impersonation_error(response, service_account, forbidden_hint)


def _impersonation_error(
    response: httpx.Response, service_account: str, forbidden_hint: str | None = None
) -> TokenSourceError:
    detail = _error_message(response)
    status = response.status_code
    if status == 403 and forbidden_hint:
        return TokenSourceError(f"generateIdToken refused ({detail}): {forbidden_hint}")
    if status == 403:
        return TokenSourceError(
            f"not allowed to impersonate {service_account} ({detail}): grant your account "
            f"roles/iam.serviceAccountTokenCreator on it, e.g. `gcloud iam service-accounts "
            f"add-iam-policy-binding {service_account} --member=user:YOU --role=roles/iam.serviceAccountTokenCreator`"
        )
    if status == 404:
        return TokenSourceError(f"service account {service_account} does not exist ({detail}); check the email")
    if status == 401:
        return TokenSourceError(
            f"IAM Credentials refused your own credentials while impersonating {service_account} ({detail}): "
            "log in again (`gcloud auth application-default login`)"
        )
    return TokenSourceError(
        f"impersonating {service_account} failed with HTTP {status} ({detail})", retryable=status >= 500
    )


def _error_message(response: httpx.Response) -> str:
    """Google's error bodies are ``{"error": {"message": ..., "status": ...}}``; keep only those words."""
    try:
        error = response.json().get("error")
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("status") or response.status_code)
    return str(error or response.status_code)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"
