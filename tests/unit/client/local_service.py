"""A small Starlette app served by a real uvicorn in a thread, standing in for a service behind Cloud Run.

It records the headers it receives, fails on demand (``fail_next`` statuses, ``Retry-After``), pages through
30 numbers in pages of 10 (``Link`` header or ``next`` cursor) and streams bodies of any size. ``/away`` answers
one page whose next page (in the body or a ``Link`` header) is ``Behaviour.away``, and ``/redirect`` redirects
there: a service pointing its callers at another origin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import free_port


@dataclass
class Behaviour:
    fail_next: list[int] = field(default_factory=list)
    retry_after: str | None = None
    refuse_token: str | None = None
    calls: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)
    away: str = ""


def build_app(state: Behaviour) -> Starlette:
    async def echo(request: Request) -> Response:
        state.calls += 1
        state.seen.append(dict(request.headers))
        if state.fail_next:
            status = state.fail_next.pop(0)
            headers = {"Retry-After": state.retry_after} if state.retry_after else {}
            return Response(f"status {status}", status_code=status, headers=headers)
        auth = request.headers.get("x-serverless-authorization", "")
        if state.refuse_token and auth.endswith(state.refuse_token):
            return Response("Unauthorized", status_code=401)
        return JSONResponse({"method": request.method, "body": (await request.body()).decode()})

    async def pages(request: Request) -> Response:
        start = int(request.query_params.get("cursor", "0"))
        rows = list(range(start, min(start + 10, 30)))
        nxt = str(start + 10) if start + 10 < 30 else None
        headers: dict[str, Any] = {}
        if request.query_params.get("style") == "link" and nxt:
            headers["Link"] = f'<{request.url.path}?style=link&cursor={nxt}>; rel="next"'
        return JSONResponse({"rows": rows, "next": None if headers else nxt}, headers=headers)

    async def away(request: Request) -> Response:
        state.calls += 1
        state.seen.append(dict(request.headers))
        if request.query_params.get("style") == "link":
            return JSONResponse({"rows": [1]}, headers={"Link": f'<{state.away}>; rel="next"'})
        return JSONResponse({"rows": [1], "next": state.away})

    async def redirect(request: Request) -> Response:
        state.calls += 1
        return Response(status_code=302, headers={"Location": state.away})

    async def blob(request: Request) -> Response:
        size = int(request.query_params["size"])
        chunk = b"x" * 65536

        async def body() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                yield chunk[: min(left, len(chunk))]
                left -= len(chunk)

        return StreamingResponse(body(), media_type="application/octet-stream")

    async def refuse(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "front-403":
            return Response("<html>Forbidden</html>", status_code=403)
        if kind == "front-401":
            return Response("<html>Unauthorized</html>", status_code=401)
        body = {"error": "unauthenticated", "reason": "api_key_expired", "detail": "the API key has expired"}
        return JSONResponse(body, status_code=401)

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/pages", pages),
            Route("/away", away),
            Route("/redirect", redirect),
            Route("/blob", blob),
            Route("/refuse/{kind}", refuse),
        ]
    )


class LocalService:
    """Runs the app on 127.0.0.1; ``url`` is its origin."""

    def __init__(self) -> None:
        self.state = Behaviour()
        port = free_port()
        config = uvicorn.Config(build_app(self.state), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("local service did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"

    def reset(self) -> None:
        self.state.__init__()  # type: ignore[misc]

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
