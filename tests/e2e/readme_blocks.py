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

from tests.support import ROOT, free_port

#: Stops the block's background job (``cloudgate emulator run &``) and what it runs, however the script ends.
STOP_BACKGROUND_JOB = "trap 'kill %1 2>/dev/null; wait' EXIT"
_NOT_INHERITED = ("CLOUDGATE_", "GOOGLE_", "CLOUDSDK_", "GCE_", "PYTHONPATH")


def block(marker: str, language: str = "bash") -> str:
    """The one README block marked ``marker``."""
    text = (ROOT / "README.md").read_text()
    found = re.findall(rf"<!-- readme-test: {marker} -->\n```{language}\n(.*?)```", text, flags=re.S)
    assert len(found) == 1, f"README has {len(found)} blocks marked {marker}"
    return str(found[0])


def emulator_block(marker: str) -> str:
    """A block that opens with ``cloudgate emulator run &``, its emulator on a free port (tests run side by side)."""
    text = block(marker)
    assert text.startswith("cloudgate emulator run &")
    return text.replace("cloudgate emulator run &", f"cloudgate emulator run --port {free_port()} &", 1)


def deploy_setup_lines() -> list[str]:
    """The deploy recipe's lines that write docs-users.txt and keys.json and export CLOUDGATE_API_KEY."""
    lines = [
        line
        for line in block("deploy").splitlines()
        if line.startswith(("cloudgate hash-password", "export CLOUDGATE_API_KEY="))
    ]
    assert len(lines) == 2
    return lines


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
