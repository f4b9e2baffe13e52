"""CPU microseconds per request of FastAPI dependencies and of cloudgate's checks, in-process (direct ASGI calls).

Answers "where does the auth overhead go", with no server and no socket: a route with one trivial async dependency
against the same route without, on a bare app, on one with an exception handler and on one with an
``@app.middleware``, and dependencies of other shapes (taking the request, a callable instance, a ``SecurityBase``
like cloudgate's requirements); then bench/_auth_app.py's routes behind ``protect()`` (the ones
``auth_overhead.py`` loads over HTTP) in ``cloud-run`` and ``verify`` identity modes: unprotected, ``KeyCaller``,
API key + identity through ``Depends(require(...))`` and on a route-level requirement (``CloudgateRoute``), and (verify) the
tutorial's verify-per-call way. Time is process CPU time, in alternating rounds, least of 5 batches: other
processes on a loaded machine count little. ``--profile`` prints the Python calls per request of the plain cases
and of each verify-mode case (cProfile: these counts do not depend on the machine's load) and the top functions of
the ``Depends`` route (``bench/results/auth_depends.prof``).
Writes ``bench/results/auth_inprocess.json``. Usage: ``python bench/auth_inprocess.py [requests] [--profile]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.models import HTTPBase
from fastapi.responses import JSONResponse
from fastapi.security.base import SecurityBase

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service_env import AUDIENCE, certs_server, new_signing_key

from bench._auth_app import create_app
from bench.auth_overhead import routes
from cloudgate.service import ServiceSettings
from cloudgate.service.keys import open_keystore

RESULTS = Path(__file__).resolve().parent / "results"


async def trivial() -> int:
    return 1


async def takes_request(request: Request) -> int:
    return 1


class CallableDependency:
    async def __call__(self, request: Request) -> int:
        return 1


class SecuritySchemeDependency(SecurityBase):
    """Shaped like cloudgate's requirements: a ``SecurityBase`` instance taking the request."""

    def __init__(self) -> None:
        self.scheme_name = "bench"
        self.model = HTTPBase(scheme="bench")

    async def __call__(self, request: Request) -> int:
        return 1


def plain_app(handler: bool, middleware: bool = False, dependency: Any = trivial) -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, int]:
        return {"n": 1}

    @app.get("/dep")
    async def dep_route(n: int = Depends(dependency)) -> dict[str, int]:  # a default: a local, not an annotation
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


async def per_request_us(cases: dict[str, tuple[Any, str, dict[str, str]]], n: int) -> dict[str, float]:
    """CPU us per request of each case, in alternating rounds (best of 5 batches of ``n // 5``)."""
    for name, (app, path, headers) in cases.items():
        if (status := await call(app, path, headers)) != 200:
            raise SystemExit(f"{name}: {path} answered {status}, not 200")
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(5):  # CPU time, not wall time: other processes on a loaded machine do not count
        for name, (app, path, headers) in cases.items():
            started = time.process_time()
            for _ in range(n // 5):
                await call(app, path, headers)
            best[name] = min(best[name], (time.process_time() - started) / (n // 5) * 1e6)
    return best


def plain_cases() -> dict[str, tuple[Any, str, dict[str, str]]]:
    bare, handled, wrapped = plain_app(False), plain_app(True), plain_app(False, middleware=True)
    return {
        "bare app: open route": (bare, "/open", {}),
        "bare app: trivial async dependency": (bare, "/dep", {}),
        "app + 1 exception handler: open route": (handled, "/open", {}),
        "app + 1 exception handler: trivial async dependency": (handled, "/dep", {}),
        "app + 1 @app.middleware('http'): open route": (wrapped, "/open", {}),
        "app + 1 @app.middleware('http'): trivial async dependency": (wrapped, "/dep", {}),
        # Is any dependency signature cheaper for FastAPI to solve? Each on its own bare app, same route position.
        "bare app: dependency taking the request": (plain_app(False, dependency=takes_request), "/dep", {}),
        "bare app: callable instance taking the request": (
            plain_app(False, dependency=CallableDependency()),
            "/dep",
            {},
        ),
        "bare app: SecurityBase instance taking the request": (
            plain_app(False, dependency=SecuritySchemeDependency()),
            "/dep",
            {},
        ),
    }


@contextlib.asynccontextmanager
async def protected_cases() -> AsyncIterator[dict[str, tuple[Any, str, dict[str, str]]]]:
    """bench/_auth_app.py's routes behind protect(), once per identity mode, with the headers each mode sees."""
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    signing = new_signing_key("bench")
    token = signing.sign()
    cases: dict[str, tuple[Any, str, dict[str, str]]] = {}
    with certs_server([signing]) as certs_url:
        async with contextlib.AsyncExitStack() as stack:
            for mode in ("cloud-run", "verify"):
                settings = ServiceSettings(
                    keystore=keystore,
                    identity=mode,  # type: ignore[arg-type]
                    certs_url=certs_url,
                    audiences=[AUDIENCE],
                    log_level="warning",  # type: ignore[arg-type]
                )
                app = create_app(settings)
                await stack.enter_async_context(app.router.lifespan_context(app))
                for name, (path, headers) in routes(api_key, token, mode).items():
                    if mode == "cloud-run" and name.startswith("tutorial"):
                        continue  # it verifies per call in either mode: measured once, under verify
                    cases[f"{mode}: {name}"] = (app, path, headers)
            yield cases


async def measure(n: int) -> dict[str, float]:
    async with protected_cases() as protected:
        return {**await per_request_us(plain_cases(), n), **await per_request_us(protected, n)}


def profile(n: int, out: Path) -> None:
    """cProfile the plain cases and each protected case: calls per request (and over the same mode's unprotected
    route), and where the ``Depends`` route's time goes."""

    async def run() -> None:
        async with protected_cases() as protected:
            cases = {**plain_cases(), **protected}
            counts: dict[str, float] = {}
            for name, (app, path, headers) in cases.items():
                await call(app, path, headers)  # warm: certs fetched, key cached, token verified once
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(n):
                    await call(app, path, headers)
                profiler.disable()
                stats = pstats.Stats(profiler)
                calls = counts[name] = stats.total_calls / n  # type: ignore[attr-defined]
                mode = name.split(":", 1)[0]
                base = counts.get(f"{mode}: unprotected")
                added = (
                    f" ({calls - base:+.0f} over {mode}'s unprotected route)"
                    if base and name != f"{mode}: unprotected"
                    else ""
                )
                print(f"== {name}: {calls:.0f} Python calls per request{added}")
                if name.startswith("verify: API key + identity (Depends)"):
                    stats.dump_stats(out)
                    stats.sort_stats("tottime").print_stats(25)

    asyncio.run(run())


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20000
    if "--profile" in sys.argv:
        RESULTS.mkdir(exist_ok=True)
        profile(n, RESULTS / "auth_depends.prof")
        return
    results = asyncio.run(measure(n))
    print(f"{'case':66} {'us/req':>7}")
    for name, us in results.items():
        print(f"{name:66} {us:7.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth_inprocess.json").write_text(json.dumps({"cpu_us_per_request": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
