"""Google's side on localhost: token endpoint, certs, IAM Credentials, metadata server, Cloud Run front end.

Faithful enough that the real google-auth library and the real ``gcloud`` work against it unchanged; see
``docs/emulator.md``. The service never imports this package: to it, the emulator is Google.

Example::

    from pathlib import Path
    from cloudgate.emulator import run

    run(Path(".cloudgate/emulator"), port=8089)  # then `gcloud run deploy`, or PUT /admin/services/NAME

Every service runs as revisions of a Cloud Run service, whoever made it (``serving/revisions.py``).
"""

from __future__ import annotations

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.server import google_app, run, serve
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from cloudgate.emulator.serving.runner import ProcessRunner, Runner

__all__ = [
    "CloudRunFrontend",
    "EmulatorContext",
    "ProcessRunner",
    "Runner",
    "StateStore",
    "google_app",
    "run",
    "serve",
]
