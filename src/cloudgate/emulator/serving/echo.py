"""A tiny service that shows what the container sees behind the front end; used by tests and benchmarks.

Run it as a container would be run: ``PORT=9000 python -m cloudgate.emulator.serving.echo`` (listens on 127.0.0.1
unless ``HOST`` says otherwise). Routes:

- ``/echo`` (any method): ``{"method", "path", "query", "headers", "body_bytes"}``, headers as received.
- ``/big?bytes=N``: N bytes with a ``Content-Length`` (not streamed).
- ``/stream?bytes=N[&chunk=C][&interval=S]``: N bytes, chunked, C bytes per chunk, S seconds between chunks.
- ``/slow?seconds=S``: answers after S seconds (timeouts, graceful shutdown); prints ``slow: started`` to stderr
  on arrival, so a test can wait until the request is in flight. ``/health``: ``ok``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

_CHUNK = 1024 * 1024
_MAX_BYTES = 256 * 1024 * 1024


def _size(request: Request, name: str, default: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return max(0, min(value, _MAX_BYTES))


async def echo(request: Request) -> Response:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name, []).append(value)
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": headers,
            "body_bytes": total,
        }
    )


async def big(request: Request) -> Response:
    return Response(b"x" * _size(request, "bytes", 0), media_type="application/octet-stream")


async def stream(request: Request) -> Response:
    remaining = _size(request, "bytes", 0)
    chunk_size = max(1, min(_size(request, "chunk", _CHUNK), _CHUNK))
    try:
        interval = min(max(float(request.query_params.get("interval", "0")), 0.0), 10.0)
    except ValueError:
        interval = 0.0

    async def chunks() -> AsyncIterator[bytes]:
        left = remaining
        while left > 0:
            size = min(chunk_size, left)
            left -= size
            yield b"x" * size
            if interval and left:
                await anyio.sleep(interval)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def slow(request: Request) -> Response:
    try:
        seconds = min(float(request.query_params.get("seconds", "1")), 600.0)
    except ValueError:
        return PlainTextResponse("seconds must be a number", status_code=400)
    print("slow: started", file=sys.stderr, flush=True)
    await anyio.sleep(max(seconds, 0.0))
    return PlainTextResponse(f"slept {seconds:g}s")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/big", big),
        Route("/stream", stream),
        Route("/slow", slow),
        Route("/health", health),
    ]
)


def main() -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8080")),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # show the headers exactly as the front end sent them, peer address included
    )


if __name__ == "__main__":
    main()
