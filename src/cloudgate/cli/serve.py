"""``cloudgate serve``: run a service as Cloud Run runs it (``0.0.0.0:$PORT``, JSON logs, graceful SIGTERM).

This is the typer command, for ``--help`` and the CLI's own error messages. The image's entrypoint does not load
typer: ``cloudgate.cli.entry`` reads well-formed ``serve`` flags itself (``cloudgate.cli.serve_argv``) and both
run ``cloudgate.cli.serve_run.run_serve``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cloudgate import env_vars
from cloudgate.cli.serve_run import ServeArgs, run_serve


def serve(
    app: str = typer.Argument(
        "app.main:create_app", envvar=env_vars.APP, help="module:attribute of an ASGI app or app factory."
    ),
    host: str | None = typer.Option(
        None,
        "--host",
        envvar=env_vars.HOST,
        help="Interface to listen on. Default: 0.0.0.0 (Cloud Run), 127.0.0.1 with --dev.",
    ),
    port: int = typer.Option(8080, "--port", envvar=env_vars.PORT, help="Port to listen on (Cloud Run sets $PORT)."),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="Development without the emulator: on 127.0.0.1, Google identity off, a generated docs password and an "
        "API key holding every scope the app declares, printed once (keys in .cloudgate/serve-dev; the key is "
        "revoked when it stops). `cloudgate dev` runs the full Cloud Run setup instead.",
    ),
    factory: bool = typer.Option(
        False,
        "--factory",
        help="APP is a factory to call for the app. Without it, a plain function taking no arguments is one too.",
    ),
    log_format: str = typer.Option("json", "--log-format", envvar=env_vars.LOG_FORMAT, help="json or text."),
    log_level: str = typer.Option("info", "--log-level", envvar=env_vars.LOG_LEVEL),
    app_dir: Path = typer.Option(Path("."), "--app-dir", envvar=env_vars.APP_DIR, help="Folder to import APP from."),
    http2: bool = typer.Option(
        False,
        "--http2",
        envvar=env_vars.HTTP2,
        help="Answer cleartext HTTP/2 (h2c) as well as HTTP/1, for `gcloud run deploy --use-http2`: request bodies "
        "may exceed 32 MiB. Uses granian (pip install 'cloudgate\\[http2]').",
    ),
) -> None:
    """Serve APP on HOST:PORT as Cloud Run would run it.

    Example: [bold]PORT=8080 cloudgate serve app.main:create_app[/]
    """
    run_serve(
        ServeArgs(
            app=app,
            host=host,
            port=port,
            dev=dev,
            factory=factory,
            log_format=log_format,
            log_level=log_level,
            app_dir=app_dir,
            http2=http2,
        )
    )


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
