"""Listening sockets and quiet uvicorn servers for the emulator's apps (Google's side and each front end).

Several servers share one process and one event loop, so none of them installs signal handlers (``serve`` in
``server.py`` owns SIGINT/SIGTERM).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from cloudgate.errors import EmulatorError


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to ``serve``: several servers share one process here."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int, *, flag: str | None = None) -> socket.socket:
    """A listening socket, or ``EmulatorError`` naming the port (and the option that moves it) when it is taken."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when proto says TCP, and
    # without it every small response waits for a delayed ACK (~40 ms per request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fix = f"choose another port with {flag}" if flag else "use another port"
        raise EmulatorError(f"cannot listen on {host}:{port}: {exc.strerror} ({fix})") from exc
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
    """A port that was free a moment ago (for an internal listener; the caller binds it soon after).

    Only free when chosen: another process may bind it first. ``runner.start_listening`` deals with that for
    the services it starts; the emulator's own listeners bind at once, in this process.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    """Whether another socket listens on ``port``, or holds it without ``SO_REUSEADDR``, so a service given this
    port could not listen on it (checked on all addresses: services listen on 0.0.0.0)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT does not count
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - never listened on: a check
        except OSError:
            return True
        return False


def quiet_server(app: Any, *, graceful: int, date_header: bool = True, http: str = "auto") -> QuietServer:
    """A quiet uvicorn server for one of the emulator's apps.

    ``proxy_headers=False``: uvicorn would otherwise let a local caller's ``X-Forwarded-For`` replace the peer
    address, and the front end would append that forged value where Cloud Run appends the address it saw.
    ``date_header=False`` for the front end: the container's ``Date`` passes through, and a second one from
    the front end's own uvicorn would make two. ``http="h11"`` for Google's side: it passes proxy requests
    (absolute-form targets, ``CONNECT``) to the app, where the Host guard explains a refusal; httptools would
    answer a bare 400 to ``CONNECT``.
    """
    config = uvicorn.Config(
        app,
        log_level="warning",
        http=http,
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        date_header=date_header,
        timeout_graceful_shutdown=graceful,
        timeout_keep_alive=620,  # longer than any client pool's idle timeout, as Google's front end does
    )
    return QuietServer(config)
