"""Token sources and the order the client tries them in.

Each source's ``fetch(audience)`` returns an :class:`IdToken`, ``None`` when the source does not apply here
(with ``skip_reason`` saying why), or raises :class:`TokenSourceError` when it applies but fails. The order:

1. an explicit credentials file (``--credentials FILE``, ``credentials=``);
2. ``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account key, an impersonated-service-account file, or a Workload
   Identity Federation ``external_account`` configuration: :mod:`cloudgate.client.external_account`);
3. the metadata server (on Google Cloud);
4. impersonation of a service account from the user's own login (``gcloud auth application-default login``),
   when a target is set (``impersonate=``, ``CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT``);
5. ``gcloud auth print-identity-token``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cloudgate import env_vars
from cloudgate.client.gcloud import GcloudSource
from cloudgate.client.impersonation import adc_path, generate_id_token, target_impersonation
from cloudgate.client.keyfile import access_token_from_info, id_token_from_file, read_credentials_file
from cloudgate.client.metadata import MetadataSource
from cloudgate.client.tokens import IdToken


class TokenSource(Protocol):
    """Something that may mint an ID token for an audience."""

    name: str
    skip_reason: str

    def fetch(self, audience: str) -> IdToken | None: ...


class KeyFileSource:
    """Token source: a credentials file given explicitly."""

    name = "credentials file"

    def __init__(self, path: Path | str | None, *, impersonate: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.impersonate = impersonate
        self.skip_reason = ""

    def fetch(self, audience: str) -> IdToken | None:
        """An ID token from the file; ``None`` when no file was given."""
        if self.path is None:
            self.skip_reason = "none given (--credentials FILE)"
            return None
        return id_token_from_file(self.path, audience, impersonate=self.impersonate, label=self.name)


class EnvironmentSource:
    """Token source: the file named by ``GOOGLE_APPLICATION_CREDENTIALS``, as google-auth's ``fetch_id_token`` reads it."""

    name = env_vars.GOOGLE_APPLICATION_CREDENTIALS

    def __init__(self, *, impersonate: str | None = None) -> None:
        self.impersonate = impersonate
        self.skip_reason = ""

    def fetch(self, audience: str) -> IdToken | None:
        """An ID token from the file; ``None`` when unset, or when it holds user credentials and no target is set."""
        value = os.environ.get(env_vars.GOOGLE_APPLICATION_CREDENTIALS, "").strip()
        if not value:
            self.skip_reason = "not set"
            return None
        path = Path(value)
        if not self.impersonate and read_credentials_file(path).get("type") == "authorized_user":
            # google-auth skips user credentials here too; impersonation or gcloud may still apply.
            self.skip_reason = f"{path} holds user credentials and no service account to impersonate is set"
            return None
        return id_token_from_file(path, audience, impersonate=self.impersonate, label=self.name)


class ImpersonationSource:
    """Token source: the user's application-default login, impersonating a service account."""

    name = "impersonation"

    def __init__(self, impersonate: str | None = None) -> None:
        self.impersonate = impersonate
        self.skip_reason = ""

    def fetch(self, audience: str) -> IdToken | None:
        """A token minted by ``generateIdToken``; ``None`` without a target or without a login."""
        target = self.impersonate or target_impersonation()
        if not target:
            self.skip_reason = (
                f"no service account to impersonate (--impersonate SA or {env_vars.IMPERSONATE_SERVICE_ACCOUNT})"
            )
            return None
        path = adc_path()
        if not path.is_file():
            self.skip_reason = f"no user login at {path} (`gcloud auth application-default login`)"
            return None
        where = f"your application-default login {path}"
        access_token = access_token_from_info(read_credentials_file(path), where)
        return generate_id_token(access_token, target, audience, source=f"{self.name} of {target}")


def default_sources(credentials: Path | str | None = None, *, impersonate: str | None = None) -> list[TokenSource]:
    """The documented chain, most explicit first; ``impersonate`` overrides the environment's target."""
    target = impersonate or target_impersonation()
    return [
        KeyFileSource(credentials, impersonate=target),
        EnvironmentSource(impersonate=target),
        MetadataSource(),
        ImpersonationSource(target),
        GcloudSource(impersonate=target),
    ]
