"""A revision that shows its secrets, for the control-plane tests: ``PORT=9000 python -m tests.e2e.secret_app``.

- ``GET /file/{path}``: the mounted file ``path`` (under ``$CLOUDGATE_MOUNT_ROOT``, where a local-command
  revision's volumes live), read on every request, as an app re-reading a rotated secret would.
- ``GET /env/{name}``: the environment variable ``name`` (resolved once, when the revision started).
"""

from __future__ import annotations

import os
from pathlib import Path

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


app = Starlette(routes=[Route("/file/{path:path}", read_file), Route("/env/{name}", read_env)])

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
