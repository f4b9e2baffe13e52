"""The three ASGI servers the HTTP/2 comparison runs, each serving one app object the way ``cloudgate serve`` does.

``python bench/_servers.py SERVER APP``: ``0.0.0.0:$PORT``, logs configured by cloudgate (JSON), graceful SIGTERM
with the same drain window for all. uvicorn and granian run exactly as ``cloudgate serve`` and
``cloudgate serve --http2`` run them; hypercorn gets the nearest equivalent settings (no access log of its own, the
same shutdown grace).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloudgate.service.logs import configure_logging
from cloudgate.service.server import GRACEFUL_SHUTDOWN_S, load_app, run


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
    host, port = "0.0.0.0", int(os.environ.get("PORT", "8080"))
    level = os.environ.get("CLOUDGATE_LOG_LEVEL", "info")
    if server in ("uvicorn", "granian"):  # what `cloudgate serve [--http2]` runs
        run(lambda: load_app(ref, Path.cwd()), host=host, port=port, log_level=level, http2=server == "granian")
    elif server == "hypercorn":
        run_hypercorn(load_app(ref, Path.cwd()), host, port)
    else:
        raise SystemExit(f"unknown server {server!r}")


if __name__ == "__main__":
    main()
