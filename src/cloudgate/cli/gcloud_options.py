"""The options that name where a Cloud Run service lives, shared by ``deploy`` and ``audit``: ``--project`` and
``--region``, defaulting to gcloud's own ``core/project`` and ``run/region`` (read by the command, not here)."""

from __future__ import annotations

from typing import Annotated

import typer

ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Default: gcloud's core/project.", show_default=False)
]
RegionOption = Annotated[str | None, typer.Option("--region", help="Default: gcloud's run/region.", show_default=False)]
