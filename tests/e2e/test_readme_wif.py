"""The README's offline Workload Identity Federation flow, run as printed with the real gcloud: pool, provider,
binding, a token of the stand-in GitHub issuer, gcloud's own create-cred-config, then a keyless `cloudgate call`.
Only the emulator's and the service's ports are moved to free ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import STOP_BACKGROUND_JOB, run_as_reader
from tests.e2e.readme_blocks import block as readme_block
from tests.support import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


def test_the_offline_wif_flow_calls_the_service_without_a_key(tmp_path: Path) -> None:
    block = readme_block("wif")
    assert block.startswith("cloudgate emulator run --service-port 8080 ")
    service_port = free_port()
    block = block.replace("cloudgate emulator run ", f"cloudgate emulator run --port {free_port()} ", 1)
    block = block.replace("8080", str(service_port))
    result = run_as_reader(tmp_path, STOP_BACKGROUND_JOB, block, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert '"path": "/echo"' in result.stdout
    # Keyless: no service-account key file anywhere in the folder the flow ran in (gcloud's config is elsewhere).
    assert [p for p in tmp_path.rglob("*.json") if "private_key" in p.read_text(errors="replace")] == []
