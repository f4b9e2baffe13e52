"""A TCP listener on 127.0.0.1 that accepts connections and never answers: a backend that hangs (a dropped network
path, a stuck server), the fault that costs a client its whole timeout rather than a quick refusal.

It reads and discards what arrives (so the sender never blocks on a full buffer), holds every connection open,
and counts them: each one is an attempt the service made.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support import free_port


class Blackhole:
    """Listens on ``127.0.0.1:port`` until ``close()``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.connections = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            threading.Thread(target=self._swallow, args=(conn,), daemon=True).start()

    @staticmethod
    def _swallow(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
