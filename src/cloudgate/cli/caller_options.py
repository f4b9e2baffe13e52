"""The options and helpers every calling command shares (``token``, ``call``, ``proxy``): credentials, audience,
impersonation and the API key, as ``Annotated`` aliases so each command's signature reads the same."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloudgate import codes, env_vars

if TYPE_CHECKING:
    from cloudgate.client.provider import TokenProvider

CredentialsOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        metavar="FILE",
        help="A service-account key, impersonated-service-account, user credentials, or Workload Identity "
        "Federation (external_account, from `gcloud iam workload-identity-pools create-cred-config`) file. "
        "Default: GOOGLE_APPLICATION_CREDENTIALS, the metadata server, impersonation, then gcloud.",
        show_default=False,
    ),
]
AudienceOption = Annotated[
    str | None,
    typer.Option(
        "--audience", help="The token's audience. Default: the service URL (scheme://host).", show_default=False
    ),
]
ImpersonateOption = Annotated[
    str | None,
    typer.Option(
        "--impersonate",
        metavar="SERVICE_ACCOUNT",
        envvar=env_vars.IMPERSONATE_SERVICE_ACCOUNT,
        help="Mint tokens as this service account (needs roles/iam.serviceAccountTokenCreator on it).",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=env_vars.API_KEY,
        help=f"API key sent as {codes.API_KEY_HEADER} (prefer the environment variable: flags land in shell history).",
        show_default=False,
        show_envvar=True,
    ),
]


def make_provider(credentials: Path | None, impersonate: str | None) -> TokenProvider:
    """The token provider for a command's options (imports the client lazily: ``--help`` stays fast)."""
    from cloudgate.client.provider import TokenProvider

    return TokenProvider(credentials, impersonate=impersonate)


def audience_of(url: str, audience: str | None) -> str:
    """The explicit audience, or the URL's origin (how Cloud Run names a service)."""
    import httpx

    from cloudgate.client.auth import audience_for
    from cloudgate.errors import ConfigError

    if audience:
        return audience
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"not a URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"not an http(s) URL: {url!r}")
    return audience_for(parsed)
