"""``cloudgate serve --dev``: loopback only, credentials printed once and working; a taken port fails first."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from cloudgate.service.keys import open_keystore
from tests.support import CLOUDGATE, ROOT, free_port, start_process, stop_process, wait_for_port

pytestmark = pytest.mark.e2e


def test_dev_mode_listens_on_loopback_and_its_printed_key_works(tmp_path: Path) -> None:
    port = free_port()
    real_store = f"sqlite:///{tmp_path / 'real-keys.sqlite3'}"
    env = {
        "CLOUDGATE_DATA_DIR": str(tmp_path / "data"),
        "CLOUDGATE_SAMPLE_ROWS": "100",
        "CLOUDGATE_KEYSTORE": real_store,
    }
    proc = start_process(
        [CLOUDGATE, "serve", "--dev", "--port", str(port), "--app-dir", str(ROOT)], env=env, cwd=tmp_path
    )
    key = None
    try:
        wait_for_port(port, proc=proc, timeout=60)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in listening.splitlines()] == [f"127.0.0.1:{port}"]
        banner = ""
        while key is None and proc.stdout is not None and len(banner) < 10_000:
            banner += proc.stdout.readline().decode()
            match = re.search(r"API key: (cgk_\S+)", banner)
            key = match.group(1) if match else None
        assert key is not None, banner
        response = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", headers={"X-API-Key": key})
        assert response.json()["key_name"] == "dev"
        # The key holds the scopes the app's routes declare (the example's), not a list the library knows.
        assert response.json()["scopes"] == ["datasets:admin", "datasets:read", "datasets:write"]
    finally:
        later_output = stop_process(proc)
    assert key not in later_output  # printed once, never logged
    # The run's key went to the dev folder's own store (not the one in the environment) and died with the run.
    assert not (tmp_path / "real-keys.sqlite3").exists()
    records = open_keystore(f"sqlite:///{tmp_path / '.cloudgate' / 'serve-dev' / 'keys.sqlite3'}").list()
    assert [r.state() for r in records] == ["revoked"]


def test_a_taken_port_fails_before_any_credentials_are_made(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [CLOUDGATE, "serve", "--dev", "--port", str(port), "--app-dir", str(ROOT)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "API key" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".cloudgate").exists()
