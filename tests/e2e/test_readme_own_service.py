"""The README's "Using cloudgate in your own service": its module and its shell lines, run as printed in a fresh
folder (only the port is moved to a free one), with the password typed on stdin as a user would at the prompt."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = pytest.mark.e2e


def _block(marker: str, language: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.findall(rf"<!-- readme-test: {marker} -->\n```{language}\n(.*?)```", text, flags=re.S)
    assert len(found) == 1, f"README has {len(found)} blocks marked {marker}"
    return str(found[0])


def test_the_own_service_example_runs_as_printed(tmp_path: Path) -> None:
    (tmp_path / "mymodule.py").write_text(_block("own-app", "python"))
    script = "set -euo pipefail\n" + _block("own-run", "bash").replace("8080", str(free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDGATE_", "GOOGLE_", "GCE_", "PYTHONPATH"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the environment the README installs into
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        input="correct horse battery staple\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr  # the snippet's own `kill %1` stopped the server
    assert '{"by":"key:etl"}' in result.stdout
    assert (tmp_path / ".cloudgate" / "keys.sqlite3").exists()  # the store the README names, where it says
