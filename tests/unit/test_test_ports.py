"""The tests' own free ports (``tests/ports.py``): never given twice, never one another test run holds, never one in
use, and never from the kernel's ephemeral range (which outgoing connections take ports from at any moment)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.ports import PortBook, _ephemeral_low, free_port

_HOLD = """
import sys
from pathlib import Path
from tests.ports import PortBook
book = PortBook(Path(sys.argv[1]))
print(book.take([int(sys.argv[2])]), flush=True)
sys.stdin.read()
"""


def _free_ports(count: int) -> list[int]:
    """Ports the kernel says are free now (for the candidates: which ones does not matter here)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_another_test_run_holds_is_not_given(tmp_path: Path) -> None:
    first, second = _free_ports(2)
    lock_file = tmp_path / "ports.lock"
    other_run = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(lock_file), str(first)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        assert other_run.stdout is not None
        assert other_run.stdout.readline().strip() == str(first)  # the other run holds it now
        assert PortBook(lock_file).take([first, second]) == second
    finally:
        other_run.communicate("")


def test_a_port_is_given_once_per_run(tmp_path: Path) -> None:
    (port,) = _free_ports(1)
    book = PortBook(tmp_path / "ports.lock")
    assert book.take([port]) == port
    assert book.take([port]) is None


def test_a_port_in_use_is_passed_over(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        (free,) = _free_ports(1)
        assert PortBook(tmp_path / "ports.lock").take([busy.getsockname()[1], free]) == free


def test_free_ports_lie_below_the_ephemeral_range() -> None:
    assert 20_000 <= free_port() < _ephemeral_low()
