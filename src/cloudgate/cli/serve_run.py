"""What ``cloudgate serve`` does once its flags are read: check the port, set up development mode, configure
logging, load the app and run the server.

Typer-free, so the image's entrypoint (``cloudgate serve``, read by ``cloudgate.cli.serve_argv``) starts the
service without loading the CLI framework; the typer command (``cloudgate.cli.serve``) calls the same
``run_serve`` for ``--help`` and anything else its own parser answers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudgate import env_vars
from cloudgate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ServeArgs:
    """``cloudgate serve``'s flags, resolved (command line over environment over default)."""

    app: str = "app.main:create_app"
    host: str | None = None
    port: int = 8080
    dev: bool = False
    factory: bool = False
    log_format: str = "json"
    log_level: str = "info"
    app_dir: Path = Path(".")
    http2: bool = False


def _check_port_free(host: str, port: int) -> None:
    """Fail before any set-up (and before printing credentials) when the port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror} (choose another with --port)") from None


def _dev_environment(state_dir: Path) -> tuple[str, str]:
    """Development only, before the app is loaded (it reads these): a fresh docs password, identity off, and the
    dev folder's own key store (never the one ``CLOUDGATE_KEYSTORE`` names, which may be real). Returns the store
    and the password."""
    from cloudgate.service.passwords import hash_password

    password = secrets.token_urlsafe(15)
    os.environ[env_vars.DOCS_USERS] = f"dev:{hash_password(password)}"
    os.environ.setdefault(env_vars.IDENTITY, "off")
    # Reached directly, with no front end appending the real peer: a client could pick its own address.
    os.environ.setdefault(env_vars.TRUST_FORWARDED_FOR, "false")
    if os.environ.get(env_vars.KEYSTORE):
        import typer  # development only: the served path never loads the CLI framework

        typer.echo(f"--dev ignores {env_vars.KEYSTORE}: this run's key goes to {state_dir}", err=True)
    keystore = f"sqlite:///{state_dir / 'keys.sqlite3'}"
    os.environ[env_vars.KEYSTORE] = keystore
    return keystore, password


def _dev_key(application: Any, keystore: str, url: str, password: str) -> str:
    """Development only: an API key holding every scope the app's routes declare, printed once with the docs
    password; returns its id. Keys of earlier runs are revoked first, in case one did not get to shut down."""
    from datetime import UTC, datetime

    import typer  # development only: the served path never loads the CLI framework
    from fastapi import FastAPI

    from cloudgate.service.keys import open_keystore
    from cloudgate.service.openapi import declared_scopes

    scopes = sorted(declared_scopes(application)) if isinstance(application, FastAPI) else []
    store = open_keystore(keystore)
    try:
        for record in store.list():
            if record.state() == "active":
                store.revoke(record.key_id, datetime.now(UTC))
        record, api_key = store.create("dev", scopes)
    finally:
        store.close()
    typer.secho("development mode: credentials below are printed once and work only for this run", err=True, bold=True)
    typer.echo(f"  service: {url}  (Google identity off; for the full Cloud Run setup use `cloudgate dev`)", err=True)
    typer.echo(f"  docs:    {url}/docs  user dev, password {password}", err=True)
    typer.echo(f"  API key: {api_key}  (scopes the app declares: {', '.join(scopes) or 'none'})", err=True)
    return record.key_id


def _revoke_on_shutdown(app: Any, keystore: str, key_id: str) -> None:
    """Revoke the run's key when the app shuts down (inside the lifespan: uvicorn ends the process by re-raising
    SIGTERM once it is done, so code after ``run()`` would never execute)."""
    router = getattr(app, "router", None)
    if router is None or not hasattr(router, "lifespan_context"):
        return  # not a Starlette app: the next --dev run revokes the key instead
    inner = router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            try:
                yield state
            finally:
                from datetime import UTC, datetime

                from cloudgate.service.keys import open_keystore

                store = open_keystore(keystore)
                try:
                    store.revoke(key_id, datetime.now(UTC))
                finally:
                    store.close()

    router.lifespan_context = lifespan


def run_serve(args: ServeArgs) -> None:
    """Serve ``args.app`` on its host and port as Cloud Run would run it, until SIGTERM/SIGINT."""
    from cloudgate.service.logs import configure_logging
    from cloudgate.service.server import check_app_ref, check_http2_server, load_app, run

    # Cloud Run's contract is 0.0.0.0:$PORT; a development run with printed credentials stays on loopback.
    host = args.host or ("127.0.0.1" if args.dev else "0.0.0.0")  # noqa: S104
    port = args.port
    _check_port_free(host, port)
    app_dir = args.app_dir.resolve()
    if args.http2:
        check_http2_server()
        check_app_ref(args.app, app_dir)  # granian loads APP in its worker: catch a typo before starting
    dev_store = _dev_environment(Path(".cloudgate/serve-dev")) if args.dev else None
    configure_logging(args.log_level, args.log_format)
    if args.http2:
        os.environ[env_vars.HTTP2] = "true"  # the service's settings (its body limit) follow the flag

    def load() -> Any:
        application = load_app(args.app, app_dir, factory=args.factory)
        if dev_store is not None:
            # The key holds the scopes the app declares, so it is made once the app is loaded.
            keystore, password = dev_store
            key_id = _dev_key(application, keystore, f"http://{host}:{port}", password)
            _revoke_on_shutdown(application, keystore, key_id)
        return application

    run(load, host=host, port=port, log_level=args.log_level, http2=args.http2)
