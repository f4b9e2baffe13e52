"""Microseconds per request of FastAPI dependencies, measured in-process with direct ASGI calls (no server, no socket).

Answers "where does the auth overhead go": a route with one trivial async dependency against the same route without,
on a bare app, on an app with one exception handler and on one with one ``@app.middleware``; then a ``protect()``-ed app's open route against
its ``KeyCaller`` route and the same check read through ``request`` (cloudgate's cheap path). Prints us/request and
the difference to the open route, measured in one run (the machine may be loaded: read the differences).
``--profile`` writes a cProfile of the dependency route on the exception-handler app.
Writes ``bench/results/auth_inprocess.json``. Usage: ``python bench/auth_inprocess.py [requests] [--profile]``.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloudgate.service import KeyCaller, ServiceSettings, protect, require_key
from cloudgate.service.keys import open_keystore

RESULTS = Path(__file__).resolve().parent / "results"


async def trivial() -> int:
    return 1


Trivial = Annotated[int, Depends(trivial)]


def plain_app(handler: bool, middleware: bool = False) -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, int]:
        return {"n": 1}

    @app.get("/dep")
    async def dep_route(n: Trivial) -> dict[str, int]:
        return {"n": n}

    if handler:

        async def on_value_error(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=400)

        app.add_exception_handler(ValueError, on_value_error)
    if middleware:

        @app.middleware("http")
        async def passthrough(request: Request, call_next: Any) -> Any:
            return await call_next(request)

    return app


def protected_app(root: Path) -> tuple[FastAPI, str]:
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, Any]:
        return {"key_name": None}

    @app.get("/key")
    async def key_route(caller: KeyCaller) -> dict[str, Any]:
        return {"key_name": caller.key_name}

    any_key = require_key()

    @app.get("/key-direct")
    async def key_direct(request: Request) -> dict[str, Any]:
        caller = await any_key(request)  # the requirement called directly: no FastAPI dependency to solve
        return {"key_name": caller.key_name}

    settings = ServiceSettings(keystore=keystore, identity="off", log_level="warning")  # type: ignore[arg-type]
    return protect(app, settings), api_key


def scope_for(path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def call(app: Any, path: str, headers: dict[str, str]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(path, headers), receive, send)
    return status


async def per_request_us(app: Any, path: str, headers: dict[str, str], n: int) -> float:
    if await call(app, path, headers) != 200:
        raise SystemExit(f"{path} did not answer 200")
    best = float("inf")
    for _ in range(5):  # CPU time, not wall time: other processes on a loaded machine do not count; best of 5 batches
        started = time.process_time()
        for _ in range(n // 5):
            await call(app, path, headers)
        best = min(best, (time.process_time() - started) / (n // 5) * 1e6)
    return best


async def measure(n: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    bare, handled, wrapped = plain_app(False), plain_app(True), plain_app(False, middleware=True)
    protected, api_key = protected_app(root)
    key = {"X-API-Key": api_key}
    async with protected.router.lifespan_context(protected):
        return {
            "bare app: open route": await per_request_us(bare, "/open", {}, n),
            "bare app: trivial async dependency": await per_request_us(bare, "/dep", {}, n),
            "app + 1 exception handler: open route": await per_request_us(handled, "/open", {}, n),
            "app + 1 exception handler: trivial async dependency": await per_request_us(handled, "/dep", {}, n),
            "app + 1 @app.middleware('http'): open route": await per_request_us(wrapped, "/open", {}, n),
            "app + 1 @app.middleware('http'): trivial async dependency": await per_request_us(wrapped, "/dep", {}, n),
            "protect(): open route": await per_request_us(protected, "/open", key, n),
            "protect(): KeyCaller": await per_request_us(protected, "/key", key, n),
            "protect(): require_key() called with the request": await per_request_us(protected, "/key-direct", key, n),
        }


def profile(n: int, out: Path) -> None:
    app = plain_app(True)

    async def run() -> None:
        for _ in range(n):
            await call(app, "/dep", {})

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(run())
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.dump_stats(out)
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20000
    if "--profile" in sys.argv:
        RESULTS.mkdir(exist_ok=True)
        profile(n, RESULTS / "dependency.prof")
        return
    results = asyncio.run(measure(n))
    print(f"{'case':56} {'us/req':>7}")
    for name, us in results.items():
        print(f"{name:56} {us:7.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth_inprocess.json").write_text(json.dumps({"cpu_us_per_request": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
