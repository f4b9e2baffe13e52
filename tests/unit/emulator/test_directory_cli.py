"""The directory and IAM settings from the CLI: users in groups, the propagation delay, Google's refusals."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cloudgate.cli.main import app
from cloudgate.emulator.core.permissions import allowed
from cloudgate.emulator.core.state import StateStore
from cloudgate.errors import CloudgateError

runner = CliRunner()


def _run(state_dir: Path, *args: str) -> tuple[int, str]:
    """Exit code and the error ``main`` would print (a ``CloudgateError``'s message), else stderr."""
    result = runner.invoke(app, ["emulator", *args, "--state-dir", str(state_dir)])
    if isinstance(result.exception, CloudgateError):
        return 1, str(result.exception)
    return result.exit_code, result.stderr


def test_users_create_puts_the_user_in_its_groups(tmp_path: Path) -> None:
    code, _ = _run(tmp_path, "users", "create", "alice@example.com", "--group", "devs@example.com")
    assert code == 0
    assert StateStore(tmp_path).current().groups["devs@example.com"].members == ["user:alice@example.com"]


def test_a_group_binding_made_with_the_cli_admits_the_member(tmp_path: Path) -> None:
    _run(tmp_path, "users", "create", "alice@example.com", "--group", "devs@example.com")
    _run(tmp_path, "services", "set", "api", "--url", "http://127.0.0.1:9")
    assert _run(tmp_path, "services", "grant", "api", "group:devs@example.com")[0] == 0
    state = StateStore(tmp_path).current()
    assert allowed(state, "user:alice@example.com", "run.routes.invoke", "services/api")


def test_granting_a_role_not_supported_on_a_service_is_a_clean_error(tmp_path: Path) -> None:
    _run(tmp_path, "services", "set", "api", "--url", "http://127.0.0.1:9")
    code, err = _run(tmp_path, "services", "grant", "api", "allUsers", "--role", "roles/storage.admin")
    assert code == 1 and "Role roles/storage.admin is not supported for this resource" in err


def test_the_propagation_delay_is_a_setting_with_bounds(tmp_path: Path) -> None:
    assert _run(tmp_path, "settings", "--iam-propagation-seconds", "5")[0] == 0
    assert StateStore(tmp_path).current().iam_propagation_seconds == 5
    code, err = _run(tmp_path, "settings", "--iam-propagation-seconds", "-1")
    assert code == 1 and "iam_propagation_seconds must be a number from 0 to 3600" in err


def test_a_change_is_recorded_with_the_stores_clock_while_a_delay_is_set(tmp_path: Path) -> None:
    """StateStore.edit keeps the bindings a change replaced, stamped by the (injected) clock."""
    store = StateStore(tmp_path)
    store.clock = lambda: 1000.0
    with store.edit() as state:
        state.iam_propagation_seconds = 5
    with store.edit() as state:
        state.project_bindings["roles/run.invoker"] = ["allUsers"]
    changes = store.current().iam_changes
    assert [(c.at, c.resource, c.before) for c in changes] == [(1000.0, "project", {})]
    assert not allowed(store.current(), "user:x@example.com", "run.routes.invoke", "services/a", now=1004.9)


def test_a_service_account_can_be_put_in_a_group(tmp_path: Path) -> None:
    code, _ = _run(tmp_path, "accounts", "create", "grouped-sa", "--group", "bots@example.com")
    assert code == 0
    member = "serviceAccount:grouped-sa@cloudgate-local.iam.gserviceaccount.com"
    assert StateStore(tmp_path).current().groups["bots@example.com"].members == [member]
