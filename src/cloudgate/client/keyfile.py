"""ID tokens from a credentials file: a service-account key, an impersonated-service-account file, a
user's ``authorized_user`` file combined with a service account to impersonate, or a Workload Identity
Federation configuration (``external_account``: :mod:`cloudgate.client.external_account`).

google-auth does the signing and the token-endpoint exchange (``service_account.IDTokenCredentials``, the
``token_uri`` of the file); ``generateIdToken`` goes through :mod:`cloudgate.client.impersonation`.
Errors name the file and what to do, never its contents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloudgate.client.impersonation import CLOUD_PLATFORM_SCOPE, generate_id_token
from cloudgate.client.tokens import IdToken
from cloudgate.errors import ConfigError, TokenSourceError
from cloudgate.google import TOKEN_URI

_SUPPORTED = "service_account, impersonated_service_account, authorized_user, external_account"


def read_credentials_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a clear ``ConfigError`` if it is missing or not JSON (contents never shown)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"credentials file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"credentials file {path} is not readable JSON ({type(exc).__name__})") from exc
    if not isinstance(info, dict):
        raise ConfigError(f"credentials file {path} is not a JSON object")
    return info


def id_token_from_file(path: Path, audience: str, *, impersonate: str | None, label: str) -> IdToken:
    """Mint an ID token for ``audience`` from the credentials file at ``path``."""
    info = read_credentials_file(path)
    kind = info.get("type")
    where = f"{label} {path}"
    if kind == "service_account":
        if impersonate:
            token = _access_token(info, where)
            return generate_id_token(token, impersonate, audience, source=f"{label} -> impersonation")
        return _service_account_id_token(info, audience, where, label)
    if kind == "impersonated_service_account":
        return _impersonated_file_id_token(info, audience, where, label)
    if kind == "external_account":
        from cloudgate.client.external_account import id_token_from_external_account

        return id_token_from_external_account(info, audience, where=where, label=label, impersonate=impersonate)
    if kind == "authorized_user":
        if not impersonate:
            raise TokenSourceError(
                f"{where} holds user credentials, which cannot mint an ID token for a service: impersonate a "
                "service account (--impersonate SA or CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT), or use "
                "`gcloud auth print-identity-token`"
            )
        token = _access_token(info, where)
        return generate_id_token(token, impersonate, audience, source=f"{label} -> impersonation")
    if kind is None:
        raise ConfigError(f'{where} has no "type" field: is it a Google credentials file? (supported: {_SUPPORTED})')
    raise ConfigError(f"{where} has type {kind!r}; supported: {_SUPPORTED}")


def access_token_from_info(info: Mapping[str, Any], where: str) -> str:
    """An OAuth access token (cloud-platform scope) for service-account or user credentials."""
    return _access_token(info, where)


def _service_account_id_token(info: Mapping[str, Any], audience: str, where: str, label: str) -> IdToken:
    from google.oauth2 import service_account

    try:
        credentials = service_account.IDTokenCredentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, target_audience=audience
        )
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{where} is not a valid service-account key ({type(exc).__name__})") from exc
    _refresh(credentials, where)
    return IdToken.from_jwt(str(credentials.token), source=label)


def _impersonated_file_id_token(info: Mapping[str, Any], audience: str, where: str, label: str) -> IdToken:
    url = str(info.get("service_account_impersonation_url", ""))
    source_info = info.get("source_credentials")
    if ":generateAccessToken" not in url or not isinstance(source_info, Mapping):
        raise ConfigError(f"{where} lacks service_account_impersonation_url or source_credentials")
    target = url.rsplit("/", 1)[-1].split(":", 1)[0]
    token = _access_token(source_info, where)
    delegates = [str(d) for d in info.get("delegates") or []]
    return generate_id_token(
        token,
        target,
        audience,
        url=url.replace(":generateAccessToken", ":generateIdToken"),
        delegates=delegates,
        source=f"{label} (impersonation)",
    )


def _access_token(info: Mapping[str, Any], where: str) -> str:
    kind = info.get("type")
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            credentials: Any = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM_SCOPE]
            )
        elif kind == "authorized_user":
            from google.oauth2 import credentials as user_credentials

            # from_authorized_user_info always uses Google's token URI; honour the file's (the emulator's).
            credentials = user_credentials.Credentials(  # type: ignore[no-untyped-call]
                token=None,
                refresh_token=info["refresh_token"],
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                token_uri=info.get("token_uri") or TOKEN_URI,
                quota_project_id=info.get("quota_project_id"),
            )
        else:
            raise ConfigError(f"{where}: cannot impersonate from credentials of type {kind!r}")
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{where} is not valid {kind} credentials ({type(exc).__name__})") from exc
    _refresh(credentials, where)
    return str(credentials.token)


def _refresh(credentials: Any, where: str) -> None:
    """Run google-auth's refresh and turn its errors into ones that say what to do."""
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "refused"
        if "invalid_grant" in reason:
            raise TokenSourceError(
                f"the token endpoint refused {where} ({reason}): the key was deleted, disabled or has expired, "
                "or the user must log in again. Create a new key, or better, impersonate a service account"
            ) from exc
        raise TokenSourceError(f"the token endpoint refused {where} ({reason})", retryable=exc.retryable) from exc
    except google.auth.exceptions.TransportError as exc:
        raise TokenSourceError(
            f"could not reach the token endpoint for {where} ({type(exc).__name__})", retryable=True
        ) from exc
