"""Free ports for tests that start real processes, handed out so that nothing else takes one in the meantime.

A test chooses a port, then starts a process that binds it a moment later; in between the port must stay free.
A port from the kernel (a bind to port 0, released) comes from the ephemeral range, which every outgoing
connection and every other bind to port 0 on the machine draws from as well, so one of those can take it in that
gap. The ports here come from below that range (from 20000 up: the kernel never hands those out by itself, and
browsers refuse a few lower ones), and each is held for the rest of the test run by a lock on its own byte of a
lock file that every test run on the machine shares: no test, in this run or a concurrent one, is given a port
twice. A port something else already holds is passed over. The locks go when the run's process exits.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import socket
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

_LOW = 20_000
_LOCK_FILE = Path(tempfile.gettempdir()) / f"cloudgate-test-ports-{os.getuid()}.lock"


class PortBook:
    """Hands out ports from ``candidates``: each one free, and held (``_LOCK_FILE``) against every other run."""

    def __init__(self, lock_file: Path) -> None:
        # One descriptor, never closed: closing any descriptor of the file would drop all of this process's locks.
        self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        self._given: set[int] = set()  # record locks do not conflict within one process: this run's own ports
        self._mutex = threading.Lock()

    def take(self, candidates: Iterable[int]) -> int | None:
        """The first candidate not given before, not held by another run, and free to bind; ``None`` if none is."""
        with self._mutex:
            for port in candidates:
                if port in self._given or not self._hold(port):
                    continue
                self._given.add(port)  # held from here on, even when in use: it is not tried again
                if _bindable(port):
                    return port
        return None

    def _hold(self, port: int) -> bool:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError:
            return False  # another test run holds it
        return True


def _bindable(port: int) -> bool:
    """Nothing binds ``port`` on any address, not even a closing connection (no ``SO_REUSEADDR`` here)."""
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def _ephemeral_low() -> int:
    """Where the kernel's ephemeral ports begin (Linux's setting; else IANA's 49152, as macOS uses)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49_152


_book: PortBook | None = None


def free_port() -> int:
    """A TCP port that nothing binds and no other test (in this run or another) was given: bind it soon."""
    global _book
    high = _ephemeral_low()
    if high - _LOW >= 1_000:
        if _book is None:
            _book = PortBook(_LOCK_FILE)
        start = random.randrange(_LOW, high)  # runs spread out, so they seldom test each other's locks
        port = _book.take(itertools.chain(range(start, high), range(_LOW, start)))
        if port is not None:
            return port
    # No room below the ephemeral range on this machine: the kernel's choice (free now, not held).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
