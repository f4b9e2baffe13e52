"""`make run`'s install: from uv.lock, only what running needs, and enough for `cloudgate dev` to serve.

The environment is made by the Makefile's own rule into a temporary folder (VENV=...), as a fresh clone's first
`make run` makes .venv; uv's download cache makes this a few seconds once `make test` has filled it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, Drain, clean_env, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("make-run") / "venv"
    made = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", f"PYTHON={sys.executable}", f"{venv}/.installed-run"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert "--frozen" in made.stdout  # installed from the lock as it is, never re-resolved
    return venv


def _installed(venv: Path) -> set[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "freeze"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {line.split("==")[0].lower() for line in listed.stdout.split()}


def test_the_run_install_holds_no_test_or_lint_tool(run_venv: Path) -> None:
    assert {"duckdb", "google-auth", "cloudgate"} <= _installed(run_venv)
    assert {"pytest", "mypy", "ruff", "playwright", "matplotlib", "schemathesis"} & _installed(run_venv) == set()


def test_the_run_install_serves_cloudgate_dev_to_its_banner(run_venv: Path, tmp_path: Path) -> None:
    argv = [
        str(run_venv / "bin" / "cloudgate"), "dev", "--port", str(free_port()), "--emulator-port", str(free_port()),
        "--state-dir", str(tmp_path / "dev"),
    ]  # fmt: skip
    env = clean_env(CLOUDGATE_DATA_DIR=str(tmp_path / "data"), CLOUDGATE_SAMPLE_ROWS="100")
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    drain = Drain(proc)
    try:
        drain.wait_for("a private Cloud Run service at", timeout=120)
    finally:
        output = drain.stop(timeout=20)
    assert "Traceback" not in output


def test_the_run_install_is_byte_compiled(run_venv: Path) -> None:
    """Where PYTHONDONTWRITEBYTECODE is set, Python only reads .pyc: the install writes them, or every start compiles."""
    packages = next((run_venv / "lib").glob("python3*/site-packages"))
    for name in ("fastapi", "uvicorn", "google/auth", "httpx"):
        assert list((packages / name / "__pycache__").glob("__init__.*.pyc")), name
