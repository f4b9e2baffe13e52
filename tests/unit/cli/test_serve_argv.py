"""``cloudgate serve`` without the CLI framework: its flags read as typer reads them, or handed to typer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer
import typer.main
from typer.core import TyperArgument, TyperGroup, TyperOption

from cloudgate.cli.serve import serve
from cloudgate.cli.serve_argv import ARGUMENT, OPTIONS, parse_serve_argv
from cloudgate.cli.serve_run import ServeArgs
from tests.ports import free_port
from tests.support import CLOUDGATE


def _typer_params() -> dict[str, TyperOption | TyperArgument]:
    root = typer.Typer()
    root.command("serve")(serve)
    root.command("other")(lambda: None)  # two commands: ``serve`` stays a subcommand, as in the CLI
    group = typer.main.get_command(root)
    assert isinstance(group, TyperGroup)
    return {param.name or "": param for param in group.commands["serve"].params}


def test_the_table_names_every_flag_and_variable_of_the_typer_command() -> None:
    params = _typer_params()
    table = {field: (flag, envvar, read is None) for flag, (field, envvar, read) in OPTIONS.items()}
    typer_side = {
        name: (param.opts[0], param.envvar, bool(getattr(param, "is_flag", False)))
        for name, param in params.items()
        if isinstance(param, TyperOption)
    }
    assert table == typer_side
    argument = next(param for param in params.values() if isinstance(param, TyperArgument))
    assert (argument.name, argument.envvar) == ARGUMENT


def test_the_defaults_are_the_typer_command_s() -> None:
    params = _typer_params()
    defaults = ServeArgs()
    assert {name: getattr(defaults, name) for name in params} == {name: p.default for name, p in params.items()}


def test_no_arguments_read_as_the_defaults() -> None:
    assert parse_serve_argv([]) == ServeArgs()


def test_flags_in_both_forms_and_the_argument_anywhere() -> None:
    argv = ["--port=9000", "mod:app", "--host", "::1", "--dev", "--http2", "--app-dir", "srv", "--log-level=debug"]
    assert parse_serve_argv(argv) == ServeArgs(
        app="mod:app", host="::1", port=9000, dev=True, http2=True, app_dir=Path("srv"), log_level="debug"
    )


def test_the_command_line_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    monkeypatch.setenv("CLOUDGATE_APP", "env:app")
    assert parse_serve_argv(["--port", "9000"]) == ServeArgs(app="env:app", port=9000)


def test_variables_fill_what_the_command_line_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    monkeypatch.setenv("CLOUDGATE_HTTP2", " Yes ")
    monkeypatch.setenv("CLOUDGATE_LOG_FORMAT", "text")
    monkeypatch.setenv("CLOUDGATE_HOST", "")  # empty: unset, as typer reads it
    assert parse_serve_argv([]) == ServeArgs(port=7000, http2=True, log_format="text")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--port", "abc"],
        ["--port", "+80"],
        ["--port"],
        ["--port", "--dev"],
        ["--dev=1"],
        ["--nope"],
        ["a:b", "c:d"],
    ],
)
def test_what_typer_would_answer_is_left_to_typer(argv: list[str]) -> None:
    assert parse_serve_argv(argv) is None


def test_a_variable_typer_might_read_otherwise_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_HTTP2", "maybe")
    assert parse_serve_argv([]) is None


def test_serve_starts_without_typer_rich_or_pydantic_settings(tmp_path: Path) -> None:
    """The image's entrypoint: by the time the app is made, no CLI framework and no pydantic-settings is loaded."""
    out = tmp_path / "modules.json"
    (tmp_path / "probe.py").write_text(
        "import json, sys\n"
        "def create_app():\n"
        "    import cloudgate.service\n"
        "    heavy = ('typer', 'rich', 'pydantic_settings', 'cloudgate.cli.main')  # click is uvicorn's own\n"
        "    names = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy)\n"
        f"    open({str(out)!r}, 'w').write(json.dumps(names))\n"
        "    raise SystemExit(0)\n"
    )
    argv = [CLOUDGATE, "serve", "probe:create_app", "--app-dir", str(tmp_path), "--port", str(free_port())]
    subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60, check=True, stdin=subprocess.DEVNULL)
    assert json.loads(out.read_text()) == []


def test_a_bad_port_gets_typer_s_usage_error() -> None:
    result = subprocess.run(
        [CLOUDGATE, "serve", "--port", "abc"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2
    assert "Invalid value for '--port'" in result.stderr
