"""The three ASGI servers the HTTP/2 comparison runs, each serving one app object the way ``cloudgate serve`` does.

``python bench/_servers.py SERVER APP``: ``0.0.0.0:$PORT``, logs configured by cloudgate (JSON), graceful SIGTERM
with the same drain window for all. uvicorn is cloudgate's own runner; granian and hypercorn get the nearest
equivalent settings (one worker, no access log of their own, the same shutdown grace).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloudgate.service.logs import configure_logging
from cloudgate.service.server import GRACEFUL_SHUTDOWN_S, load_app
from cloudgate.service.server import run as run_uvicorn


def run_granian(app: Any, host: str, port: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.server import Server

    # granian's own lines go through the root logger (cloudgate's JSON handler) instead of its plain-text handler.
    quiet = {"loggers": {"_granian": {"handlers": [], "propagate": True}}, "handlers": {}}
    server = Server(
        "cloudgate:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        workers=1,
        log_dictconfig=quiet,
        workers_kill_timeout=GRACEFUL_SHUTDOWN_S,
    )
    server.serve(target_loader=lambda *_: app)


def run_hypercorn(app: Any, host: str, port: int) -> None:
    import asyncio
    import signal

    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = GRACEFUL_SHUTDOWN_S
    config.accesslog = None
    config.errorlog = None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    uvloop.run(main())


def main() -> None:
    server, ref = sys.argv[1], sys.argv[2]
    configure_logging(os.environ.get("CLOUDGATE_LOG_LEVEL", "info"), "json")
    app = load_app(ref, Path.cwd())
    host, port = "0.0.0.0", int(os.environ.get("PORT", "8080"))
    if server == "uvicorn":
        run_uvicorn(app, host=host, port=port, log_level=os.environ.get("CLOUDGATE_LOG_LEVEL", "info"))
    elif server == "granian":
        run_granian(app, host, port)
    elif server == "hypercorn":
        run_hypercorn(app, host, port)
    else:
        raise SystemExit(f"unknown server {server!r}")


if __name__ == "__main__":
    main()
