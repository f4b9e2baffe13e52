"""The README's tested blocks, run as a reader would: bash, a fresh folder, the activated venv, no Google settings.

A block is the fenced code right after ``<!-- readme-test: MARKER -->``. ``run_as_reader`` runs shell lines under
``set -euo pipefail`` with the environment the README assumes: the machine's, without ``CLOUDGATE_*``,
``GOOGLE_*``, ``CLOUDSDK_*``, ``GCE_*`` and ``PYTHONPATH``, the venv's ``bin`` first on ``PATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

#: Stops the block's background job (``cloudgate emulator run &``) and what it runs, however the script ends.
STOP_BACKGROUND_JOB = "trap 'kill %1 2>/dev/null; wait' EXIT"
_NOT_INHERITED = ("CLOUDGATE_", "GOOGLE_", "CLOUDSDK_", "GCE_", "PYTHONPATH")


def block(marker: str, language: str = "bash") -> str:
    """The one README block marked ``marker``."""
    text = (ROOT / "README.md").read_text()
    found = re.findall(rf"<!-- readme-test: {marker} -->\n```{language}\n(.*?)```", text, flags=re.S)
    assert len(found) == 1, f"README has {len(found)} blocks marked {marker}"
    return str(found[0])


def run_as_reader(
    cwd: Path, *lines: str, stdin: str | None = None, timeout: float, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``lines`` run by bash in ``cwd`` under ``set -euo pipefail``; ``stdin`` is what the reader types."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the activated venv the README assumes
    script = "\n".join(["set -euo pipefail", *lines])
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**env, **extra_env},
        timeout=timeout,
    )
