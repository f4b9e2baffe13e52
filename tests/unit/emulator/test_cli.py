"""``cloudgate emulator`` commands: secrets go to files (0600), messages to stderr, errors are clean."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from cloudgate.cli.main import app
from tests.support import free_port

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["emulator", *args])
    return result.exit_code, result.stdout, result.stderr


def test_key_file_is_written_private_and_not_printed(tmp_path: Path) -> None:
    """accounts key writes a service_account file with mode 0600 and prints no private key."""
    state = ["--state-dir", str(tmp_path / "s")]
    code, out, _ = _run("accounts", "create", "cli-test-sa", *state)
    assert code == 0 and out.strip() == "cli-test-sa@cloudgate-local.iam.gserviceaccount.com"
    key = tmp_path / "k.json"
    code, out, err = _run("accounts", "key", "cli-test-sa", "--out", str(key), *state)
    assert code == 0 and "PRIVATE KEY" not in out + err
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    info = json.loads(key.read_text())
    assert info["type"] == "service_account" and info["token_uri"] == "http://127.0.0.1:8089/token"


def test_grant_and_show_round_trip(tmp_path: Path) -> None:
    """services set + grant are visible in `emulator show`."""
    state = ["--state-dir", str(tmp_path)]
    assert (
        _run("services", "set", "svc", "--url", "http://127.0.0.1:9", "--audience", "https://a.example", *state)[0] == 0
    )
    assert _run("services", "grant", "svc", "allUsers", *state)[0] == 0
    shown = json.loads(_run("show", *state)[1])
    assert shown["services"]["svc"]["bindings"] == {"roles/run.invoker": ["allUsers"]}
    assert shown["services"]["svc"]["audiences"] == ["https://a.example"]


def test_unknown_account_is_a_clean_error(tmp_path: Path) -> None:
    """Keying an account that does not exist ends with EmulatorError (main prints it, exit 1)."""
    result = runner.invoke(app, ["emulator", "accounts", "key", "ghost-sa", "--out", str(tmp_path / "k"),
                                 "--state-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1
    assert "no service account" in str(result.exception)


def test_gcloud_env_without_a_running_emulator_says_how_to_start_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["emulator", "gcloud-env", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1 and result.stdout == ""
    assert "no emulator is running" in str(result.exception) and "cloudgate emulator run" in str(result.exception)


def test_an_emulator_that_does_not_answer_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    """emulator.json names a live process (this one) where nothing listens: the change is refused, not written."""
    from cloudgate.emulator.core.state import write_address

    state = ["--state-dir", str(tmp_path / "s")]
    write_address(tmp_path / "s", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["emulator", "accounts", "create", "cli-test-sa", *state])
    assert result.exit_code == 1 and result.stdout == ""
    message = str(result.exception)
    assert "did not answer" in message and "\n" not in message
    assert not (tmp_path / "s" / "state.json").exists()


def test_a_malformed_service_name_is_a_clean_error_and_creates_nothing(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path)]
    result = runner.invoke(app, ["emulator", "services", "set", "../x", "--url", "http://127.0.0.1:9", *state])
    assert result.exit_code != 0 and "service names must be 1-49 characters" in str(result.exception)
    assert json.loads(_run("show", *state)[1])["services"] == {}


def test_a_service_url_that_is_not_http_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["emulator", "services", "set", "api", "--url", "notaurl", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code != 0 and "is not an http(s) URL" in str(result.exception)


def test_the_emulators_address_is_replaced_whole(tmp_path: Path) -> None:
    """emulator.json is written to a new file and renamed: a reader never sees it half written."""
    from cloudgate.emulator.core.state import ADDRESS_FILE, read_address, write_address

    write_address(tmp_path, "http://127.0.0.1:1")
    first = (tmp_path / ADDRESS_FILE).stat().st_ino
    write_address(tmp_path, "http://127.0.0.1:2")
    assert (tmp_path / ADDRESS_FILE).stat().st_ino != first
    assert read_address(tmp_path) == "http://127.0.0.1:2"
    assert [p.name for p in tmp_path.iterdir()] == [ADDRESS_FILE]
