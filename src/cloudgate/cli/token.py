"""``cloudgate token URL``: print an ID token for a private service.

Only the token goes to stdout, so it composes: ``curl -H "Authorization: Bearer $(cloudgate token URL)" URL``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cloudgate.cli.caller_options import (
    AudienceOption,
    CredentialsOption,
    ImpersonateOption,
    audience_of,
    make_provider,
)

_HELP = """Print an ID token for calling a private Cloud Run service.

Only the token goes to stdout. Example:

    cloudgate token https://svc-abc-uc.a.run.app

    curl -H "X-Serverless-Authorization: Bearer $(cloudgate token https://svc-abc-uc.a.run.app)" \\
        https://svc-abc-uc.a.run.app/v1/whoami
"""


def token(
    url: Annotated[str, typer.Argument(help="The service URL (its origin is the default audience).")],
    audience: AudienceOption = None,
    credentials: CredentialsOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    typer.echo(make_provider(credentials, impersonate).get(audience_of(url, audience)).value)


def register(root: typer.Typer) -> None:
    root.command("token", help=_HELP)(token)
