"""The running emulator is the one writer of its state: ``cloudgate emulator accounts/users/services/project/
settings`` go through its admin API, so the real gcloud sees their changes at once, and the CLI process writes
nothing in the state folder (watched with Python's audit hooks: every file opened for writing, renamed, removed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.gcloud_stack import GcloudStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e

#: Runs the cloudgate CLI (argv[3:]) with an audit hook that records each write inside argv[1] into argv[2].
_WATCHED_CLI = """
import os, sys

folder, report, argv = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3:]
writes = []
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def inside(path):
    if isinstance(path, int):
        return False
    path = os.path.abspath(os.fsdecode(path))
    return path == folder or path.startswith(folder + os.sep)


def hook(event, args):
    if event == "open" and isinstance(args[2], int) and args[2] & _WRITING and inside(args[0]):
        writes.append(f"open {args[0]}")
    elif event == "os.rename" and (inside(args[0]) or inside(args[1])):
        writes.append(f"os.rename {args[0]} {args[1]}")  # os.replace too
    elif event in ("os.remove", "os.mkdir", "os.rmdir", "os.chmod", "os.truncate") and inside(args[0]):
        writes.append(f"{event} {args[0]}")


sys.addaudithook(hook)
sys.argv = ["cloudgate", *argv]
try:
    from cloudgate.cli.entry import main

    main()
finally:
    with open(report, "w") as out:
        out.write("\\n".join(writes))
"""


def _watched(state_dir: Path, report: Path, *args: str) -> tuple[str, list[str]]:
    """``cloudgate emulator ARGS --state-dir STATE_DIR``: its stdout, and the writes it made inside the folder."""
    done = subprocess.run(
        [sys.executable, "-c", _WATCHED_CLI, str(state_dir), str(report), "emulator", *args,
         "--state-dir", str(state_dir)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), [line for line in report.read_text().splitlines() if line]


def test_an_account_made_with_the_cli_is_listed_by_gcloud_at_once(gcloud_stack: GcloudStack, tmp_path: Path) -> None:
    email, _ = _watched(gcloud_stack.state_dir, tmp_path / "writes", "accounts", "create", "one-writer-sa")
    listed = gcloud_stack.gcloud("iam", "service-accounts", "list", "--format=value(email)").stdout.split()
    assert email == f"one-writer-sa@{gcloud_stack.project}.iam.gserviceaccount.com" and email in listed


def test_the_cli_writes_nothing_in_the_state_folder_while_the_emulator_runs(
    gcloud_stack: GcloudStack, tmp_path: Path
) -> None:
    """Each changing command, through the running emulator; the key and credentials files land outside it."""
    state, report = gcloud_stack.state_dir, tmp_path / "writes"
    commands = [
        ("accounts", "create", "quiet-writer-sa"),
        ("accounts", "key", "quiet-writer-sa", "--out", str(tmp_path / "key.json")),
        ("users", "create", "quiet@example.com", "--out", str(tmp_path / "user.json")),
        ("accounts", "grant", "quiet-writer-sa", "user:quiet@example.com"),
        ("services", "set", "quiet", "--url", "http://127.0.0.1:9"),
        ("services", "grant", "quiet", "user:quiet@example.com"),
        ("services", "revoke", "quiet", "user:quiet@example.com"),
        ("project", "grant", "user:quiet@example.com", "--role", "roles/run.viewer"),
        ("settings", "--iam-propagation-seconds", "0"),
    ]
    for command in commands:
        assert _watched(state, report, *command)[1] == [], command
    shown = json.loads(subprocess.run(
        [CLOUDGATE, "emulator", "show", "--state-dir", str(state)],
        env=clean_env(), capture_output=True, text=True, timeout=60, check=True,
    ).stdout)  # fmt: skip
    assert "user:quiet@example.com" in shown["project_bindings"]["roles/run.viewer"]


def test_the_watch_sees_the_cli_write_the_folder_when_no_emulator_runs(tmp_path: Path) -> None:
    """The same watch on a folder no emulator runs on: the CLI writes state.json itself (the watch can fail)."""
    state = tmp_path / "state"
    _, writes = _watched(state, tmp_path / "writes", "accounts", "create", "offline-sa")
    assert any(line.startswith("os.rename") and line.endswith("/state.json") for line in writes), writes  # os.replace


def test_a_key_made_through_the_emulator_names_its_token_endpoint(gcloud_stack: GcloudStack, tmp_path: Path) -> None:
    state = gcloud_stack.state_dir
    _watched(state, tmp_path / "writes", "accounts", "create", "keyed-writer-sa")
    _watched(state, tmp_path / "writes", "accounts", "key", "keyed-writer-sa", "--out", str(tmp_path / "key.json"))
    assert json.loads((tmp_path / "key.json").read_text())["token_uri"] == f"{gcloud_stack.emulator_url}/token"


def test_a_key_rotated_with_the_cli_is_published_by_the_running_emulator_at_once(
    gcloud_stack: GcloudStack, tmp_path: Path
) -> None:
    """``rotate-keys`` goes to the emulator, which signs with the new key and publishes it; the CLI writes nothing."""
    kid, writes = _watched(gcloud_stack.state_dir, tmp_path / "writes", "rotate-keys")
    published = httpx.get(f"{gcloud_stack.emulator_url}/oauth2/v3/certs", timeout=30, trust_env=False).json()
    assert (writes, kid in [key["kid"] for key in published["keys"]]) == ([], True)


@pytest.mark.parametrize("running", [True, False], ids=["through-the-emulator", "no-emulator"])
def test_a_refused_change_is_one_line_and_exit_code_2_either_way(
    gcloud_stack: GcloudStack, tmp_path: Path, running: bool
) -> None:
    state = gcloud_stack.state_dir if running else tmp_path / "state"
    done = subprocess.run(
        [CLOUDGATE, "emulator", "accounts", "create", "ab", "--state-dir", str(state)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, len(done.stderr.strip().splitlines()), "6-30" in done.stderr) == (2, 1, True), done.stderr
