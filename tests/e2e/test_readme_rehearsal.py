"""The README's "Rehearse it offline" block, run as printed with the real gcloud, through the call to the deployed
service: after the deploy recipe's two lines that write the docs users file and the keys file and export the API
key. Only the emulator's port is moved to a free one (everything after it finds the emulator from its state folder);
the password is typed on stdin, as at the prompt.
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
    pytest.mark.timeout(900),  # the rehearsal's own bound (below); pytest's default 300 s ended it on a busy machine
]


def test_the_rehearsal_deploys_and_calls_the_service_as_printed(tmp_path: Path) -> None:
    (tmp_path / "app").symlink_to(ROOT / "app")  # --source . is a folder holding the app, like a clone
    rehearsal = emulator_block("rehearse")
    # The block leaves the emulator running, as on a terminal; the test stops it (and the service it runs).
    result = run_as_reader(
        tmp_path, STOP_BACKGROUND_JOB, *deploy_setup_lines(), rehearsal,
        stdin="correct horse battery staple\n", timeout=900,
        CLOUDGATE_SAMPLE_ROWS="1000",  # the example service's sample dataset, kept small
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "roles/run.invoker" in result.stdout  # plain gcloud read the emulated policy
    assert '"key_name": "etl"' in result.stdout  # the call went through with the README's API key...
    assert "etl-job@cloudgate-local.iam.gserviceaccount.com" in result.stdout  # ...and etl-job's ID token
