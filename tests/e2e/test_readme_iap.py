"""The README's "Open the docs with Google sign-in (IAP)" emulator block, run as printed with the real gcloud: after
the deploy recipe's lines that write the docs users file and the keys file. Only the emulator's port is moved to a
free one. Then, as a reader would check it: the docs URL sends a browser to the emulated sign-in page, and
``cloudgate audit`` shows IAP on with alice as the one who may pass. (Signing in with Chromium and opening the docs
is ``tests/e2e/test_iap_browser.py``'s.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import STOP_BACKGROUND_JOB, deploy_setup_lines, emulator_block, run_as_reader
from tests.support import ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
    pytest.mark.timeout(900),
]

_CHECK = """
curl -s -o /dev/null -w 'docs: %{http_code} %{redirect_url}\\n' -H 'Accept: text/html' "$URL/docs"
eval "$(cloudgate emulator gcloud-env)"
cloudgate audit api
"""


def test_the_iap_block_deploys_a_service_behind_the_emulated_sign_in(tmp_path: Path) -> None:
    (tmp_path / "app").symlink_to(ROOT / "app")  # --source . is a folder holding the app, like a clone
    iap = emulator_block("iap")
    result = run_as_reader(
        tmp_path, STOP_BACKGROUND_JOB, *deploy_setup_lines(), iap, _CHECK,
        stdin="correct horse battery staple\n", timeout=900, CLOUDGATE_SAMPLE_ROWS="1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "/_gcp_iap/signin?continue=" in result.stdout  # IAP answers a browser without a session
    assert "IAP is on" in result.stdout
    assert "who may pass IAP (roles/iap.httpsResourceAccessor): user:alice@example.com" in result.stdout
