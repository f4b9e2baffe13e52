"""Running a service the way Cloud Run expects: ``0.0.0.0:$PORT``, JSON logs, graceful SIGTERM.

Cloud Run sends SIGTERM and kills the instance 10 s later; uvicorn stops accepting connections on SIGTERM and lets
in-flight requests finish for ``GRACEFUL_SHUTDOWN_S``, a margin under that window.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from cloudgate.errors import ConfigError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

GRACEFUL_SHUTDOWN_S = CLOUD_RUN_SHUTDOWN_GRACE_S - 2


def load_app(ref: str, app_dir: Path | None = None) -> Any:
    """Import ``module:attr``; call it if it is a factory (a plain function) rather than an ASGI app."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"APP must look like module:attribute (e.g. app.main:create_app), not {ref!r}")
    sys.path.insert(0, str(app_dir or Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import {module_name!r} (run from the folder that holds it)") from exc
        raise
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{module_name!r} has no attribute {attr!r}") from None
    # A plain function is a factory (``create_app``); an app instance is a callable object, not a function.
    return target() if inspect.isfunction(target) else target


def run(app: Any, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` with uvicorn until SIGTERM/SIGINT (the caller has configured logging)."""
    import uvicorn

    from cloudgate.service.exposure import warn_public_identity_routes

    warn_public_identity_routes(app, host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        log_level=log_level.lower(),
        server_header=False,
        proxy_headers=False,  # cloudgate reads X-Forwarded-For itself, only where it is trusted
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=620,  # longer than Google's front end keeps idle connections (600 s)
        lifespan="on",
    )
    uvicorn.Server(config).run()
