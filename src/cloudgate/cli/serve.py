"""``cloudgate serve``: run a service as Cloud Run runs it (``0.0.0.0:$PORT``, JSON logs, graceful SIGTERM)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer

from cloudgate import env_vars

_DEV_SCOPES = ("datasets:read", "datasets:write", "datasets:admin")


def _dev_setup(state_dir: Path) -> None:
    """Development only: a fresh docs password and API key, printed once; never used in production settings."""
    from cloudgate.service.api_keys import open_keystore
    from cloudgate.service.passwords import hash_password

    password = secrets.token_urlsafe(15)
    os.environ[env_vars.ENVIRONMENT] = "development"
    os.environ[env_vars.DOCS_USERS] = f"dev:{hash_password(password)}"
    os.environ.setdefault(env_vars.IDENTITY, "off")
    os.environ.setdefault(env_vars.KEYSTORE, f"sqlite:///{state_dir / 'keys.sqlite3'}")
    store = open_keystore(os.environ[env_vars.KEYSTORE])
    _, api_key = store.create("dev", list(_DEV_SCOPES))
    store.close()
    typer.secho("development mode: credentials below are printed once and work only for this run", err=True, bold=True)
    typer.echo(f"  docs:    user dev, password {password}", err=True)
    typer.echo(f"  API key: {api_key}", err=True)


def serve(
    app: str = typer.Argument("app.main:create_app", help="module:attribute of an ASGI app or app factory."),
    host: str = typer.Option("0.0.0.0", "--host", envvar="HOST", help="Interface to listen on."),  # noqa: S104 - Cloud Run's contract
    port: int = typer.Option(8080, "--port", envvar=env_vars.PORT, help="Port to listen on (Cloud Run sets $PORT)."),
    dev: bool = typer.Option(
        False, "--dev", help="Development: generate a docs password and an API key, print them once, identity off."
    ),
    log_format: str = typer.Option("json", "--log-format", envvar=env_vars.LOG_FORMAT, help="json or text."),
    log_level: str = typer.Option("info", "--log-level", envvar=env_vars.LOG_LEVEL),
    app_dir: Path = typer.Option(Path("."), "--app-dir", help="Folder to import APP from."),
) -> None:
    """Serve APP on HOST:PORT as Cloud Run would run it.

    Example: [bold]PORT=8080 cloudgate serve app.main:create_app[/]
    """
    from cloudgate.service.logs import configure_logging
    from cloudgate.service.server import load_app, run

    if dev:
        _dev_setup(Path(".cloudgate/serve-dev"))
    configure_logging(log_level, log_format)
    run(load_app(app, app_dir.resolve()), host=host, port=port, log_level=log_level)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
