"""The README's offline Workload Identity Federation flow, run as printed with the real gcloud: pool, provider,
binding, a token of the stand-in GitHub issuer, gcloud's own create-cred-config, then a keyless `cloudgate call`.
Only the emulator's and the service's ports are moved to free ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


def _block() -> str:
    found = re.findall(r"<!-- readme-test: wif -->\n```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(found) == 1, f"README has {len(found)} blocks marked wif"
    return str(found[0])


def test_the_offline_wif_flow_calls_the_service_without_a_key(tmp_path: Path) -> None:
    block = _block()
    assert block.startswith("cloudgate emulator run --service-port 8080 ")
    service_port = free_port()
    block = block.replace("cloudgate emulator run ", f"cloudgate emulator run --port {free_port()} ", 1)
    block = block.replace("8080", str(service_port))
    script = "\n".join(["set -euo pipefail", "trap 'kill %1 2>/dev/null; wait' EXIT", block])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDGATE_", "GOOGLE_", "CLOUDSDK_", "GCE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the activated venv the README assumes
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert '"path": "/echo"' in result.stdout
    # Keyless: no service-account key file anywhere in the folder the flow ran in (gcloud's config is elsewhere).
    assert [p for p in tmp_path.rglob("*.json") if "private_key" in p.read_text(errors="replace")] == []
