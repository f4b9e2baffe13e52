"""Running a service the way Cloud Run expects: ``0.0.0.0:$PORT``, JSON logs, graceful SIGTERM.

Cloud Run sends SIGTERM and kills the instance 10 s later; the server stops accepting connections on SIGTERM and
lets in-flight requests finish for ``GRACEFUL_SHUTDOWN_S``, a margin under that window.

Two servers: uvicorn (HTTP/1, the default) and, with ``http2=True``, granian, which answers HTTP/1 and cleartext
HTTP/2 (h2c, what Cloud Run speaks to a service deployed with ``--use-http2``) on the same port. uvicorn stays the
default because granian was not clearly faster for HTTP/1 and starts slower with more memory
(``bench/http2_servers.py``; figures in docs/http2.md). granian is the optional extra ``cloudgate[http2]``, imported
only when asked for. granian forks its worker process, so the app is created in the worker, after the fork: an app
that starts threads when it is created (DuckDB's connection does) would hang in a child forked from it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import multiprocessing
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudgate.errors import ConfigError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

GRACEFUL_SHUTDOWN_S = CLOUD_RUN_SHUTDOWN_GRACE_S - 2

logger = logging.getLogger(__name__)


def load_app(ref: str, app_dir: Path | None = None, *, factory: bool = False) -> Any:
    """Import ``module:attr``; call it if it is a factory rather than an ASGI app.

    ``factory=True`` says it is one (as uvicorn's ``--factory``). Otherwise a plain function that takes no
    arguments (``create_app``) is taken for a factory, and anything else, such as a raw ASGI function
    ``app(scope, receive, send)``, is served as it is.
    """
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
    if factory:
        try:
            return target()
        except TypeError as exc:
            if not _takes_no_arguments(target):
                raise ConfigError(f"--factory: {ref} cannot be called without arguments, so it is no factory") from exc
            raise
    return target() if inspect.isfunction(target) and _takes_no_arguments(target) else target


def _takes_no_arguments(target: Any) -> bool:
    try:
        inspect.signature(target).bind()
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): not a factory we can judge
        return False
    return True


def check_app_ref(ref: str, app_dir: Path | None = None) -> None:
    """Fail early on an APP that cannot be loaded, without running the module (for servers that load it later)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"APP must look like module:attribute (e.g. app.main:create_app), not {ref!r}")
    sys.path.insert(0, str(app_dir or Path.cwd()))
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise ConfigError(f"cannot import {module_name!r} (run from the folder that holds it)")


def run(load: Callable[[], Any], *, host: str, port: int, log_level: str = "info", http2: bool = False) -> None:
    """Serve the ASGI app ``load()`` returns until SIGTERM/SIGINT: uvicorn, or granian for HTTP/1 + h2c.

    The caller has configured logging. granian calls ``load`` in its worker process; uvicorn calls it here.
    """
    if http2:
        _run_granian(lambda: _load(load, host), host=host, port=port, log_level=log_level)
        return
    import uvicorn

    app = _load(load, host)
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


def _load(load: Callable[[], Any], host: str) -> Any:
    from cloudgate.service.exposure import warn_public_identity_routes

    app = load()
    warn_public_identity_routes(app, host)
    return app


def check_http2_server() -> None:
    """Raise ``ConfigError`` naming the extra to install when the HTTP/2 server is missing (checked before start-up)."""
    if importlib.util.find_spec("granian") is None:
        raise ConfigError("serving HTTP/2 needs granian: pip install 'cloudgate[http2]'")


def _run_granian(load: Callable[[], Any], *, host: str, port: int, log_level: str) -> None:
    """granian with one worker process, forked (it inherits the logging set up here), that calls ``load``."""
    check_http2_server()
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    # granian's own lines go to the root logger (cloudgate's JSON handler), not to its plain-text handler.
    logs = {"loggers": {"_granian": {"handlers": [], "propagate": True}}, "handlers": {}}
    server = Server(
        "cloudgate:app",  # only a name for its process title: the loader below makes the app
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,  # HTTP/1 and h2c with prior knowledge on one port, as Cloud Run may use either
        workers=1,
        log_level=LogLevels(log_level.lower()),
        log_dictconfig=logs,
        workers_kill_timeout=GRACEFUL_SHUTDOWN_S,
    )
    # Python 3.14 defaults to forkserver, which granian turns into spawn: the loader below could not be pickled.
    multiprocessing.set_start_method("fork", force=True)
    server.serve(target_loader=lambda *_: _load_in_worker(load))


def _load_in_worker(load: Callable[[], Any]) -> Any:
    """``load()`` in granian's worker; a ``ConfigError`` becomes one log line and exit status 2, not a traceback."""
    try:
        return load()
    except ConfigError as exc:
        logger.error("%s", exc)
        raise SystemExit(2) from None
