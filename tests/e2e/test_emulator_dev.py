"""``cloudgate dev``: the example service as a private Cloud Run service, driven through its session file."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from cloudgate.cli.dev import _banner
from cloudgate.service.keys import open_keystore
from tests.e2e.stack import DevStack
from tests.support import clean_env

pytestmark = pytest.mark.e2e


def _headers(stack: DevStack, key_file: Path) -> dict[str, str]:
    creds = service_account.IDTokenCredentials.from_service_account_file(str(key_file), target_audience=stack.url)
    creds.refresh(google.auth.transport.requests.Request())
    return {"X-Serverless-Authorization": f"Bearer {creds.token}", "X-API-Key": stack.api_key}


def test_invoker_with_api_key_reaches_whoami(dev_stack: DevStack) -> None:
    """The invoker's ID token plus the session's API key: 200, and the service sees both identities."""
    response = httpx.get(f"{dev_stack.url}/v1/whoami", headers=_headers(dev_stack, dev_stack.invoker_key))
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == dev_stack.session["invoker_email"]
    assert body["scopes"] == ["datasets:admin", "datasets:read", "datasets:write"]


def test_non_invoker_and_no_token_are_refused(dev_stack: DevStack) -> None:
    """The account without roles/run.invoker gets 403; no token gets 403 too, before the service sees it."""
    outsider = httpx.get(f"{dev_stack.url}/v1/whoami", headers=_headers(dev_stack, dev_stack.outsider_key))
    assert outsider.status_code == 403
    anonymous = httpx.get(f"{dev_stack.url}/v1/whoami", headers={"X-API-Key": dev_stack.api_key})
    assert anonymous.status_code == 403


def test_docs_open_with_token_and_basic_login(dev_stack: DevStack) -> None:
    """The docs need the ID token (IAM) and the docs user's Basic login (the app), side by side."""
    headers = _headers(dev_stack, dev_stack.invoker_key)
    del headers["X-API-Key"]
    docs = httpx.get(f"{dev_stack.url}/docs", headers=headers, auth=(dev_stack.docs_user, dev_stack.docs_password))
    assert docs.status_code == 200
    assert httpx.get(f"{dev_stack.url}/docs", headers=headers).status_code == 401


def test_one_instance_reading_the_key_file_logs_no_sqlite_warning(dev_stack: DevStack) -> None:
    """One instance reads the SQLite file ``cloudgate keys`` writes: the per-instance copy warning would be false
    (``--instances 3`` gets it from each copy: tests/e2e/test_many_instances.py)."""
    assert dev_stack.drain is not None
    dev_stack.drain.wait_for("Application startup complete")  # the instance is past protect(), which warns
    dev_stack.drain.wait_for("Stop: Ctrl-C")
    assert "CLOUDGATE_KEYSTORE is an SQLite file" not in dev_stack.drain.output


def test_session_file_is_private_and_complete(dev_stack: DevStack) -> None:
    """session.json is mode 0600 and names the URL, docs login, API key and key files that exist."""
    path = Path(dev_stack.session["session_file"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    session = json.loads(path.read_text())
    for name in ("url", "emulator_url", "docs_user", "docs_password", "api_key", "invoker_key_file"):
        assert session[name]
    assert Path(session["invoker_key_file"]).exists() and Path(session["outsider_key_file"]).exists()


def test_printed_python_snippet_works(dev_stack: DevStack) -> None:
    """The Python snippet of the banner, pasted exactly as printed (no line touched), prints whoami."""
    banner = _banner(dev_stack.session)
    snippet = banner.split("Python (")[1].split(":\n", 1)[1].split("\n\ncurl:")[0]
    done = subprocess.run(
        [sys.executable, "-c", snippet], env=clean_env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert dev_stack.session["invoker_email"] in done.stdout


def test_printed_curl_line_works(dev_stack: DevStack) -> None:
    """The curl line of the banner, run by a shell exactly as printed, reaches whoami."""
    banner = _banner(dev_stack.session)
    curl = banner.split("\ncurl:\n")[1].splitlines()[0]
    done = subprocess.run(["bash", "-c", curl], env=clean_env(), capture_output=True, text=True, timeout=60, check=True)
    assert dev_stack.session["invoker_email"] in done.stdout


def test_stop_revokes_the_session(tmp_path: Path) -> None:
    """SIGTERM stops cloudgate dev cleanly, removes session.json and revokes its API key."""
    stack = DevStack.start(tmp_path)
    session_file = Path(stack.session["session_file"])
    output = stack.stop()
    assert stack.proc is not None and stack.proc.returncode == 0, output
    assert f"the session's API key {stack.session['api_key_id']} is revoked" in output
    assert not session_file.exists()
    assert "Traceback" not in output
    keystore = open_keystore(stack.session["keystore"])
    record = keystore.get(stack.session["api_key_id"])
    keystore.close()
    assert record is not None and record.revoked_at is not None


@pytest.mark.parametrize("which", ["--port", "--emulator-port"])
def test_a_taken_port_names_the_flag_that_moves_it(tmp_path: Path, which: str) -> None:
    """Before anything is prepared: one line naming the port and the option, no traceback, nothing written."""
    import socket

    from tests.support import CLOUDGATE, free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": str(free_port()), "--emulator-port": str(free_port()), which: str(port)}
        argv = [CLOUDGATE, "dev", *(item for pair in ports.items() for item in pair), "--state-dir", str(tmp_path)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    assert done.returncode != 0
    assert (
        f"cannot listen on 127.0.0.1:{port}: Address already in use (choose another port with {which})" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "session.json").exists()
