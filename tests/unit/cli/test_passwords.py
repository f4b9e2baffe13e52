"""``cloudgate hash-password``: stdin, prompt, --user, refusals (in-process, ``tests/cli.py``; the terminal prompt
through the real console script on a pty)."""

from __future__ import annotations

import os
import pty
import select
import signal
import time

import pytest

from cloudgate.service.passwords import load_docs_users, verify_password
from cloudgate.service.settings import ServiceSettings
from tests.cli import Ran, run_cloudgate
from tests.support import CLOUDGATE

PASSWORD = "correct horse battery staple"


def run(*args: str, stdin: str) -> Ran:
    return run_cloudgate("hash-password", *args, input=stdin)


def test_reads_one_line_of_stdin_and_prints_only_the_hash() -> None:
    result = run(stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    hashed = result.stdout.strip()
    assert result.stdout == hashed + "\n"
    assert hashed.startswith("$argon2id$")
    assert verify_password(PASSWORD, hashed)
    assert PASSWORD not in result.stderr


def test_strips_only_the_trailing_newline_so_spaces_stay_part_of_the_password() -> None:
    result = run(stdin="  " + PASSWORD + "  \n")
    assert result.returncode == 0, result.stderr
    assert verify_password("  " + PASSWORD + "  ", result.stdout.strip())
    assert not verify_password(PASSWORD, result.stdout.strip())


def test_user_option_prints_an_entry_that_the_docs_users_setting_accepts() -> None:
    result = run("--user", "alice", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    entry = result.stdout.strip()
    assert entry.startswith("alice:$argon2id$")
    users = load_docs_users(ServiceSettings(docs_users=entry))
    assert verify_password(PASSWORD, users["alice"])


def test_a_short_password_is_refused_with_a_clear_message_and_nothing_secret() -> None:
    result = run(stdin="short-pw\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "shorter than 12 characters" in result.stderr
    assert "--allow-short" in result.stderr
    assert "short-pw" not in result.stderr
    assert "Traceback" not in result.stderr


def test_allow_short_accepts_a_short_password() -> None:
    result = run("--allow-short", stdin="short-pw\n")
    assert result.returncode == 0, result.stderr
    assert verify_password("short-pw", result.stdout.strip())


@pytest.mark.parametrize("stdin", ["", "\n"], ids=["no-input", "empty-line"])
def test_an_empty_password_is_refused(stdin: str) -> None:
    result = run("--allow-short", stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "empty" in result.stderr


@pytest.mark.parametrize("user", ["al:ice", "al ice", "a,b", ""])
def test_a_user_name_that_cannot_be_an_entry_is_refused(user: str) -> None:
    result = run("--user", user, stdin=PASSWORD + "\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--user" in result.stderr


def test_help_shows_an_example() -> None:
    result = run_cloudgate("hash-password", "--help")
    assert result.returncode == 0
    assert "cloudgate hash-password --user alice" in result.stdout
    assert "CLOUDGATE_DOCS_USERS" in result.stdout


def _read_until(fd: int, marker: bytes | None, timeout: float = 20.0) -> bytes:
    """What the child writes to the terminal until ``marker`` appears (``None``: until it closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker is None or marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} in {seen!r}")
        if not select.select([fd], [], [], min(left, 0.5))[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _reap(pid: int, timeout: float = 30.0) -> int:
    """Wait for the child; kill it if it is still waiting for input after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def test_on_a_terminal_it_prompts_twice_without_echoing_the_password() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console script on a fresh terminal
        os.execv(CLOUDGATE, [CLOUDGATE, "hash-password", "--user", "alice"])  # noqa: S606
    try:
        # click writes "Password:", then getpass turns echo off and writes " ": type only after that.
        _read_until(fd, b"Password: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        _read_until(fd, b"Repeat for confirmation: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        output = _read_until(fd, None, timeout=30)
    finally:
        status = _reap(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert PASSWORD.encode() not in output
    entry = output.decode().strip().splitlines()[-1]
    assert entry.startswith("alice:$argon2id$")
    assert verify_password(PASSWORD, entry.split(":", 1)[1])
