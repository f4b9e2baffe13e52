"""A port chosen for a service can be taken by another process before the service binds it: the emulator gives
the service another port instead of failing (or passing requests to whoever took it). The race is made certain,
not waited for: the port is taken by the test just before the service starts, or handed out already taken."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.serving.instances import InstancePool
from cloudgate.emulator.serving.listeners import free_port
from cloudgate.emulator.serving.runner import PORT_ATTEMPTS, ProcessRunner, ServiceStartError, start_listening
from cloudgate.knative import Scaling

ECHO = [sys.executable, "-m", "cloudgate.emulator.serving.echo"]


class PreemptedRunner(ProcessRunner):
    """Runs the echo service, but the first ``steals`` ports it is given are bound by another socket (without
    ``SO_REUSEADDR``, as a process's own socket would be) just before the service starts on them."""

    def __init__(self, argv: list[str] = ECHO, steals: int = 0) -> None:
        super().__init__(argv)
        self.steals = steals
        self.ports: list[int] = []
        self.thieves: list[socket.socket] = []

    def start(self, port: int) -> None:
        self.ports.append(port)
        if len(self.thieves) < self.steals:
            thief = socket.socket()
            thief.bind(("127.0.0.1", port))
            self.thieves.append(thief)
        super().start(port)

    def close(self) -> None:
        self.stop()
        for thief in self.thieves:
            thief.close()


@pytest.fixture
def runners() -> Iterator[Callable[..., PreemptedRunner]]:
    made: list[PreemptedRunner] = []

    def make(argv: list[str] = ECHO, steals: int = 0) -> PreemptedRunner:
        made.append(PreemptedRunner(argv, steals))
        return made[-1]

    yield make
    for runner in made:
        runner.close()


async def _answers(port: int) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(f"http://127.0.0.1:{port}/health")).text


@pytest.mark.anyio
async def test_a_port_taken_before_the_service_binds_it_is_exchanged_for_another(runners) -> None:  # type: ignore[no-untyped-def]
    runner = runners(steals=1)
    port = await start_listening(runner, 30)
    assert runner.ports == [runner.ports[0], port] and port != runner.ports[0]
    assert await _answers(port) == "ok"


@pytest.mark.anyio
async def test_a_port_already_taken_when_chosen_is_passed_over_without_a_start(runners) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        chosen = iter([held, free_port()])
        runner = runners()
        port = await start_listening(runner, 30, lambda: next(chosen))
        assert runner.ports == [port] and port != held
        assert await _answers(port) == "ok"


@pytest.mark.anyio
async def test_a_service_that_fails_for_another_reason_is_not_started_again(runners) -> None:  # type: ignore[no-untyped-def]
    runner = runners([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ServiceStartError, match=r"exited with status 3 before listening$"):
        await start_listening(runner, 30)
    assert len(runner.ports) == 1


@pytest.mark.anyio
async def test_the_ports_tried_are_bounded_and_the_error_says_why(runners) -> None:  # type: ignore[no-untyped-def]
    runner = runners(steals=PORT_ATTEMPTS)
    with pytest.raises(ServiceStartError, match=f"another process held its port .*{PORT_ATTEMPTS} ports tried"):
        await start_listening(runner, 30)
    assert len(set(runner.ports)) == PORT_ATTEMPTS


@pytest.mark.anyio
async def test_an_instance_whose_port_is_taken_starts_on_another(runners, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = runners(steals=1)
    pool = InstancePool("svc", lambda name, folder: runner, tmp_path, Counters(), Scaling(1, 1), choose_port=free_port)
    try:
        await pool.start()
        async with pool.acquire() as upstream:
            assert upstream == f"http://127.0.0.1:{runner.ports[1]}"
            assert await _answers(runner.ports[1]) == "ok"
    finally:
        await pool.stop()
