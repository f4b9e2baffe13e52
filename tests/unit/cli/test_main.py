"""The command line's own errors: usage mistakes get click's message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli import run_cloudgate


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "http://127.0.0.1:9/v1/whoami", "--credential", "x"], "No such option: --credential"),
        (["tokn", "http://127.0.0.1:9"], "No such command 'tokn'"),
        (["token"], "Missing argument"),
        (["dev", "--port", "abc"], "Invalid value for '--port'"),
        (["keys", "create"], "Missing argument"),
    ],
)
def test_usage_mistakes_are_explained_without_a_traceback(argv: list[str], message: str) -> None:
    result = run_cloudgate(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "extra-password-argument" not in result.stderr


def test_no_arguments_prints_help_without_a_traceback() -> None:
    result = run_cloudgate()
    assert "Usage: cloudgate" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_version() -> None:
    result = run_cloudgate("--version")
    assert result.returncode == 0 and result.stdout.startswith("cloudgate ")


def test_a_password_on_the_command_line_is_refused_without_echoing_it() -> None:
    result = run_cloudgate("hash-password", "--user", "alice", "hunter2-on-argv")
    assert result.returncode == 2
    assert "never a password" in result.stderr
    assert "hunter2-on-argv" not in result.stderr + result.stdout


def test_a_mistyped_option_is_refused_without_echoing_it_either() -> None:
    """``--pasword=...`` could hold the password: it is refused like any extra word, unrepeated."""
    result = run_cloudgate("hash-password", "--pasword=hunter2-in-an-option")
    assert result.returncode == 2
    assert "hunter2-in-an-option" not in result.stderr + result.stdout


def test_hash_password_help_shows_no_argument_it_would_refuse() -> None:
    result = run_cloudgate("hash-password", "--help")
    usage = next(line.strip() for line in result.stdout.splitlines() if "Usage:" in line)
    assert usage == "Usage: cloudgate hash-password [OPTIONS]"
    assert "argv" not in result.stdout


def test_serve_http2_without_granian_names_the_extra_to_install() -> None:
    # ``sys.modules[name] = None`` makes the import system report the package as absent.
    code = (
        "import sys; sys.modules['granian'] = None; from cloudgate.cli.main import main; "
        "sys.argv = ['cloudgate', 'serve', '--http2', '--port', '0']; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "pip install 'cloudgate[http2]'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
