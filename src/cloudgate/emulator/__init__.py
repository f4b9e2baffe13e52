"""Google's side on localhost: token endpoint, certs, IAM Credentials, metadata server, Cloud Run front end.

Faithful enough that the real google-auth library and the real ``gcloud`` work against it unchanged; see
``docs/emulator.md``. The service never imports this package: to it, the emulator is Google.

Example::

    from pathlib import Path
    from cloudgate.emulator import ProcessRunner, ServiceSpec, run

    runner = ProcessRunner(["python", "-m", "cloudgate.emulator.serving.echo"])
    run(Path(".cloudgate/emulator"), port=8089, services=[ServiceSpec("dev", port=8080, runner=runner)])
"""

from __future__ import annotations

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.server import ServiceSpec, google_app, run, serve
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from cloudgate.emulator.serving.runner import ProcessRunner, Runner

__all__ = [
    "CloudRunFrontend",
    "EmulatorContext",
    "ProcessRunner",
    "Runner",
    "ServiceSpec",
    "StateStore",
    "google_app",
    "run",
    "serve",
]
