"""What `gcloud builds submit` would upload (the real gcloud reads .gcloudignore): no secret, state or test file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from tests.container.images import DECOYS, make_context

pytestmark = pytest.mark.e2e


def test_the_upload_leaves_out_secrets_local_state_and_tests(tmp_path: Path) -> None:
    context = make_context(tmp_path / "checkout")
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1"}
    listed = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(context)],
        capture_output=True, text=True, check=True, env=env, timeout=120,
    ).stdout.split()  # fmt: skip
    uploaded = {PurePosixPath(name) for name in listed}
    assert {
        PurePosixPath("Dockerfile"),
        PurePosixPath("app/main.py"),
        PurePosixPath("requirements/service.txt"),
    } <= uploaded
    assert [name for name in uploaded if str(name) in DECOYS] == []
    assert [name for name in uploaded if name.parts[0] in {"tests", ".git", ".venv", ".cloudgate", "bench"}] == []
