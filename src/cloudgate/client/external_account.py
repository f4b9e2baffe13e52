"""ID tokens with Workload Identity Federation: a CI job's own OIDC token, no key file anywhere.

A credential configuration made by ``gcloud iam workload-identity-pools create-cred-config`` (``"type":
"external_account"``) says where the job's token is (a file, a URL, or an executable), which provider the
Security Token Service should check it against (``audience``), and which service account to act as
(``service_account_impersonation_url``). Two hops make the ID token Cloud Run wants:

1. google-auth's ``identity_pool`` / ``pluggable`` credentials read the subject token and exchange it at the
   STS (``token_url``) for a federated access token. The file's impersonation URL is left out here on
   purpose: google-auth would turn it into ``generateAccessToken``, an access token Cloud Run does not take.
2. ``generateIdToken`` for the service account, with the federated token and the service URL as audience; the
   federated principal needs ``roles/iam.workloadIdentityUser`` on the account.

google-auth's ``id_token.fetch_id_token`` stops at access tokens for these files, which is why this module exists.
Google's URLs in the file can be redirected to the emulator: ``CLOUDGATE_STS_ENDPOINT`` for the STS,
``CLOUDGATE_IAM_ENDPOINT`` for IAM Credentials (or ``HTTPS_PROXY`` through the emulator's Google proxy).

Example::

    token = id_token_from_external_account(json.load(open("wif-config.json")), "https://svc.a.run.app",
                                           where="credentials file wif-config.json", label="credentials file")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from cloudgate import env_vars
from cloudgate.client.impersonation import CLOUD_PLATFORM_SCOPE, DEFAULT_IAM_ENDPOINT, generate_id_token, iam_endpoint
from cloudgate.client.tokens import IdToken
from cloudgate.errors import ConfigError, TokenSourceError

#: The Security Token Service as ``create-cred-config`` writes it.
DEFAULT_STS_ENDPOINT = "https://sts.googleapis.com"
_IMPERSONATION_URL = re.compile(r"/serviceAccounts/(?P<email>[^/:]+):generateAccessToken$")
_LEFT_OUT = ("service_account_impersonation_url", "service_account_impersonation")


def sts_endpoint() -> str:
    """The STS base URL: ``CLOUDGATE_STS_ENDPOINT`` or Google's."""
    return os.environ.get(env_vars.STS_ENDPOINT, "").rstrip("/") or DEFAULT_STS_ENDPOINT


def id_token_from_external_account(
    info: Mapping[str, Any], audience: str, *, where: str, label: str, impersonate: str | None = None
) -> IdToken:
    """Exchange the configured subject token at the STS, then ``generateIdToken`` for the service account."""
    url = str(info.get("service_account_impersonation_url") or "")
    match = _IMPERSONATION_URL.search(url)
    target = impersonate or (match["email"] if match else None)
    if target is None:
        raise ConfigError(
            f"{where} names no service account: Cloud Run needs an ID token, which a federated identity gets only "
            "by acting as a service account. Make the file with `gcloud iam workload-identity-pools "
            "create-cred-config ... --service-account=SA`, or pass --impersonate SA"
        )
    federated = _federated_token(info, where)
    id_url = (
        redirect_google_url(url, DEFAULT_IAM_ENDPOINT, iam_endpoint()).replace(
            ":generateAccessToken", ":generateIdToken"
        )
        if match and not impersonate
        else None
    )
    return generate_id_token(
        federated,
        target,
        audience,
        url=id_url,
        source=f"{label} (workload identity federation as {target})",
        forbidden_hint=(
            f"the federated identity may not act as {target}: grant it roles/iam.workloadIdentityUser on the "
            f"account, e.g. `gcloud iam service-accounts add-iam-policy-binding {target} "
            "--role=roles/iam.workloadIdentityUser --member=principalSet://iam.googleapis.com/projects/NUMBER/"
            "locations/global/workloadIdentityPools/POOL/attribute.repository/ORG/REPO`"
        ),
    )


def _federated_token(info: Mapping[str, Any], where: str) -> str:
    """Hop 1: the STS's federated access token, through google-auth's external-account credentials."""
    import google.auth.exceptions
    import google.auth.transport.requests

    config = {k: v for k, v in info.items() if k not in _LEFT_OUT}
    config["token_url"] = redirect_google_url(str(info.get("token_url") or ""), DEFAULT_STS_ENDPOINT, sts_endpoint())
    try:
        credentials = _credentials(config)
    except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError) as exc:
        raise ConfigError(f"{where} is not a valid external_account configuration ({_reason(exc)})") from exc
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.TransportError as exc:
        raise TokenSourceError(
            f"could not reach the Security Token Service for {where} ({type(exc).__name__})", retryable=True
        ) from exc
    except google.auth.exceptions.OAuthError as exc:
        raise TokenSourceError(
            f"the Security Token Service refused the subject token of {where} ({_reason(exc)}): check the "
            "provider's issuer, allowed audiences and attribute condition, and that the token is current"
        ) from exc
    except google.auth.exceptions.GoogleAuthError as exc:
        # Before any exchange: the token file, URL or executable named by credential_source did not give one.
        raise TokenSourceError(f"could not get the subject token that {where} names ({_reason(exc)})") from exc
    return str(credentials.token)


def _credentials(config: dict[str, Any]) -> Any:
    """google-auth's credentials for the file's kind of subject token (file or URL, executable, AWS)."""
    source = config.get("credential_source")
    if not isinstance(source, Mapping):
        raise ValueError("credential_source is missing")
    scopes = [CLOUD_PLATFORM_SCOPE]
    if "executable" in source:
        from google.auth import pluggable

        return pluggable.Credentials.from_info(config, scopes=scopes)  # type: ignore[no-untyped-call]
    if "environment_id" in source:
        from google.auth import aws

        return aws.Credentials.from_info(config, scopes=scopes)  # type: ignore[no-untyped-call]
    from google.auth import identity_pool

    return identity_pool.Credentials.from_info(config, scopes=scopes)  # type: ignore[no-untyped-call]


def redirect_google_url(url: str, google_base: str, base: str) -> str:
    """``url`` on ``base`` instead of Google's host, when it names Google's host and ``base`` differs."""
    if base != google_base and url.startswith(google_base + "/"):
        return base + url.removeprefix(google_base)
    return url


def _reason(exc: Exception) -> str:
    """google-auth's message, without the subject token (it never quotes it, but keep one line and short)."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:300]
