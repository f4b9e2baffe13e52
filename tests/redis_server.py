"""A real ``redis-server`` for tests: started on a free 127.0.0.1 port, nothing persisted, stopped afterwards.

The Debian package ``redis-server`` provides it (``scripts/system-deps.sh`` installs it). A missing binary fails
the test with a message saying so: a skip would hide that the shared throttle went untested.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import free_port, start_process, stop_process, wait_for_port


class RedisServer:
    """One ``redis-server`` process; ``url`` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    @classmethod
    def start(cls, folder: Path) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: run `bash scripts/system-deps.sh` (Debian package redis-server)"
            )
        port = free_port()
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        argv += ["--loglevel", "warning"]  # its output is read only at the end: keep it short
        proc = start_process([*argv, "--dir", str(folder), "--protected-mode", "yes"])
        wait_for_port(port, proc=proc)
        return cls(proc, port)

    def flush(self) -> None:
        """Forget every key (each test starts from an empty database)."""
        import redis

        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()

    def stop(self) -> str:
        """Stop the server (again: no-op); returns what it printed."""
        if self.proc.stdout is None or self.proc.stdout.closed:
            return ""
        return stop_process(self.proc)
