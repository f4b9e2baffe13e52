"""A revision for the control-plane tests: ``PORT=9000 python -m tests.e2e.revision_app``.

- ``GET /revision``: ``$K_REVISION``, the revision this instance belongs to.
- ``GET /hold``: answers (with ``$K_REVISION``) once the file ``$HOLD_FILE`` exists, so a test can keep a request
  in flight across a rollout and release it when it chooses; prints ``hold: started in pid N`` when it begins.
- ``GET /id-token?audience=A``: an ID token fetched by google-auth from the metadata server, as code on Cloud Run
  gets one for its own service account.
- ``GET /file/{path}``: the mounted file ``path`` (under ``$CLOUDGATE_MOUNT_ROOT``, where a local-command
  revision's volumes live), read on every request, as an app re-reading a rotated secret would.
- ``GET /env/{name}``: the environment variable ``name`` (resolved once, when the revision started).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def read_file(request: Request) -> Response:
    root = Path(os.environ["CLOUDGATE_MOUNT_ROOT"]).resolve()
    path = (root / request.path_params["path"]).resolve()
    if root not in path.parents or not path.is_file():
        return PlainTextResponse("no such file", status_code=404)
    return PlainTextResponse(path.read_text())


def read_env(request: Request) -> Response:
    return PlainTextResponse(os.environ.get(request.path_params["name"], ""))


def revision(request: Request) -> Response:
    return PlainTextResponse(os.environ.get("K_REVISION", ""))


async def hold(request: Request) -> Response:
    release = anyio.Path(os.environ["HOLD_FILE"])
    print(f"hold: started in pid {os.getpid()}", file=sys.stderr, flush=True)
    with anyio.fail_after(60):
        while not await release.exists():  # noqa: ASYNC110 - the event is a file another process creates
            await anyio.sleep(0.05)
    return PlainTextResponse(os.environ.get("K_REVISION", ""))


def id_token(request: Request) -> Response:
    import google.auth.transport.requests
    from google.oauth2 import id_token as google_id_token

    audience = request.query_params["audience"]
    token = google_id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
    return PlainTextResponse(token)


app = Starlette(
    routes=[
        Route("/file/{path:path}", read_file),
        Route("/env/{name}", read_env),
        Route("/revision", revision),
        Route("/hold", hold),
        Route("/id-token", id_token),
    ]
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
