"""``cloudgate emulator oidc-token`` / ``oidc-issuer``: a stand-in CI issuer's signed OIDC token, and its URI.

Example (what a GitHub Actions job gets from its runner, offline)::

    cloudgate emulator oidc-token --issuer github --subject repo:org/repo:ref:refs/heads/main \\
        --audience https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci/providers/github \\
        --claim repository=org/repo --claim ref=refs/heads/main --out subject-token.jwt
"""

from __future__ import annotations

from pathlib import Path

import typer

from cloudgate.cli.emulator import StateDir, emulator
from cloudgate.errors import ConfigError, EmulatorError


@emulator.command("oidc-token")
def oidc_token(
    subject: str = typer.Option(..., "--subject", help="The token's sub (GitHub: repo:ORG/REPO:ref:REF)."),
    audience: str = typer.Option(
        ..., "--audience", help="The token's aud: the provider's name with https://iam.googleapis.com/ in front."
    ),
    issuer: str = typer.Option("github", "--issuer", help="The stand-in issuer's name (its URI: EMULATOR/oidc/NAME)."),
    claim: list[str] = typer.Option([], "--claim", metavar="NAME=VALUE", help="An extra string claim (repeatable)."),
    lifetime: int = typer.Option(300, "--lifetime", min=1, max=86400, help="Seconds the token is valid for."),
    issued_ago: int = typer.Option(
        0, "--issued-ago", min=0, max=864000, help="Back-date it (longer than --lifetime: already expired)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the token to this file (mode 0600, no newline: a file-sourced subject token)."
    ),
    state_dir: Path = StateDir,
    emulator_url: str | None = typer.Option(
        None, "--emulator", help="The emulator's URL (default: the one running on --state-dir)."
    ),
) -> None:
    """Print a signed OIDC token of a stand-in CI issuer, for a workload identity pool provider to trust."""
    from cloudgate.emulator.identity.oidc_issuer import issuer_url, mint_subject_token

    url = _running(state_dir, emulator_url)
    claims: dict[str, str] = {}
    for item in claim:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--claim takes NAME=VALUE, not {item!r}")
        claims[name] = value
    token = mint_subject_token(
        state_dir, url, issuer, subject=subject, audience=audience, claims=claims, lifetime_s=lifetime,
        issued_ago_s=issued_ago,
    )  # fmt: skip
    if out is None:
        typer.echo(token)
    else:
        from cloudgate.emulator.core.secret_store import write_private

        write_private(out, token.encode())  # as a CI runner writes it: the token alone, no trailing newline
    typer.echo(f"# issuer: {issuer_url(url, issuer)}", err=True)


@emulator.command("oidc-issuer")
def oidc_issuer(
    issuer: str = typer.Argument("github", help="The stand-in issuer's name."),
    state_dir: Path = StateDir,
    emulator_url: str | None = typer.Option(
        None, "--emulator", help="The emulator's URL (default: the one running on --state-dir)."
    ),
) -> None:
    """Print the issuer URI of a stand-in CI issuer (for `providers create-oidc --issuer-uri`)."""
    from cloudgate.emulator.identity.oidc_issuer import issuer_url

    typer.echo(issuer_url(_running(state_dir, emulator_url), issuer))


def _running(state_dir: Path, emulator_url: str | None) -> str:
    from cloudgate.emulator.core.state import read_address

    url = emulator_url or read_address(state_dir)
    if url is None:
        raise EmulatorError(
            f"no emulator is running on {state_dir}: start one with `cloudgate emulator run`, or give --emulator URL"
        )
    return url


def register(root: typer.Typer) -> None:
    """The command joins ``cloudgate emulator`` (registered by ``cloudgate.cli.emulator``)."""
