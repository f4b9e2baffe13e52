"""The README's "Calling it" examples, run as written against a real ``cloudgate dev`` (so they cannot rot)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import DevStack
from tests.support import ROOT

pytestmark = pytest.mark.e2e


def _blocks(kind: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"<!-- readme-test: {kind} -->\n```{kind}\n(.*?)```", text, flags=re.S)


@pytest.fixture
def workdir(tmp_path: Path, dev_stack: DevStack) -> Path:
    """A folder laid out like the repository after `make run`: .venv and .cloudgate/dev/."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    dev = tmp_path / ".cloudgate" / "dev"
    dev.mkdir(parents=True)
    shutil.copy(Path(dev_stack.session["invoker_key_file"]), dev / "invoker-key.json")
    (dev / "session.json").write_text((Path(dev_stack.session["invoker_key_file"]).parent / "session.json").read_text())
    return tmp_path


def _localise(script: str, dev_stack: DevStack) -> str:
    return script.replace("http://127.0.0.1:8080", dev_stack.url)


def test_readme_has_the_examples() -> None:
    assert len(_blocks("bash")) == 1 and len(_blocks("python")) == 1


def test_readme_shell_examples_work(workdir: Path, dev_stack: DevStack) -> None:
    script = "set -euo pipefail\n" + _localise(_blocks("bash")[0], dev_stack)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDGATE_", "GOOGLE_", "GCE_"))}
    result = subprocess.run(["bash", "-c", script], cwd=workdir, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"key_name": "dev"' in result.stdout
    assert '"category": "alpha"' in result.stdout
    assert (workdir / "sample.arrows").stat().st_size > 1000


def test_readme_python_example_works(workdir: Path, dev_stack: DevStack) -> None:
    result = subprocess.run(
        [str(workdir / ".venv" / "bin" / "python"), "-c", _blocks("python")[0]],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "'key_name': 'dev'" in result.stdout
    assert "150 beta rows" in result.stdout
