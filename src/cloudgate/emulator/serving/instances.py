"""Instances of one service, scaled as Cloud Run scales them: the front end borrows a slot for each request.

Cloud Run runs as many instances of a revision as the load needs: each takes up to ``concurrency`` requests at
once (default 80); when every instance is full another starts (up to ``max_instances``), and instances idle for a
while are stopped down to ``min_instances``. Those three are the revision's typed ``knative.Scaling`` (checked
when the revision was parsed); how long idling, waiting and starting may take are the pool's ``Timings``. Each instance is its own process with its own memory and its own
folder (``make_runner`` gets one per instance), so state kept in memory or on local disk is per instance, exactly
the trap a real deployment sets.

``acquire()`` yields the base URL of an instance with a free slot and holds the slot until the response is done:

- a ready instance with a free slot is picked round-robin (so consecutive requests spread over instances);
- none free and fewer than ``max_instances`` running or starting: another instance starts (a cold start);
- at ``max_instances`` the request waits up to ``pending_seconds`` for a slot, then ``NoInstanceError`` (the
  front end answers 429, as Cloud Run does when no instance is available);
- an instance that fails to start makes the waiting request fail with ``InstanceStartError`` (503).

Counters: ``instance_requests`` (per instance name), ``instance_starts`` and ``instance_stops`` (per service).
An instance that exits on its own is dropped and reported (``exited``); it is not restarted silently.

Example::

    pool = InstancePool("dev", lambda name, folder: ProcessRunner(argv), folder, counters, Scaling(1, 3))
    await pool.start()
    async with pool.acquire() as upstream:
        ...  # forward one request to upstream
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.serving.listeners import free_port
from cloudgate.emulator.serving.runner import Runner, ServiceStartError, start_listening
from cloudgate.errors import EmulatorError
from cloudgate.knative import Scaling

logger = logging.getLogger(__name__)

RunnerFactory = Callable[[str, Path], Runner]


class NoInstanceError(EmulatorError):
    """Every instance is busy, none more may start, and no slot freed up in time (Cloud Run's 429)."""


class InstanceStartError(EmulatorError):
    """A new instance exited or did not listen in time (Cloud Run's 503); ``port`` is the one it was given."""

    def __init__(self, message: str, *, port: int, cause: str) -> None:
        super().__init__(message)
        self.port = port
        self.cause = cause


@dataclass(frozen=True)
class Timings:
    """How long a revision's instances may idle, wait and start: the emulator's pacing, beside the revision's
    ``knative.Scaling`` (instances and concurrency, as ``gcloud run deploy`` sets them)."""

    #: How long an instance above ``min_instances`` may stay idle before it is stopped (Cloud Run: up to 15 min).
    idle_seconds: float = 60.0
    #: How long a request waits for a slot when ``max_instances`` are all busy.
    pending_seconds: float = 10.0
    #: How long a new instance may take to listen on its port (a deployed revision: its startup probe's limit).
    startup_seconds: float = 30.0


@dataclass(eq=False)
class Instance:
    """One running (or starting) copy of the service."""

    name: str
    port: int
    runner: Runner
    folder: Path
    ready: bool = False
    in_flight: int = 0
    served: int = 0
    idle_since: float = 0.0

    @property
    def url(self) -> str:
        return self.runner.url(self.port)


@dataclass
class InstancePool:
    """The instances of one service; ``make_runner(name, folder)`` makes the runner of a new instance."""

    service: str
    make_runner: RunnerFactory
    folder: Path
    counters: Counters
    scaling: Scaling
    timings: Timings = field(default_factory=Timings)
    clock: Callable[[], float] = time.monotonic
    #: Where a new instance's port comes from (see ``runner.start_listening`` for a port taken meanwhile).
    choose_port: Callable[[], int] = free_port
    instances: list[Instance] = field(default_factory=list)
    #: Exit status of an instance that stopped on its own (reported, never hidden), else None.
    exited: int | None = None
    _numbers: Any = field(default_factory=lambda: itertools.count(1))
    _turn: int = 0
    _changed: anyio.Event | None = None
    _waiting: int = 0

    async def start(self, *, at_least: int = 0) -> None:
        """Start ``min_instances`` instances, or ``at_least`` (a rollout checks that one starts even with min 0)."""
        failures: list[InstanceStartError] = []

        async def start_one() -> None:
            try:
                await self._start_instance()
            except InstanceStartError as exc:  # raised plainly below, not wrapped in the task group's ExceptionGroup
                failures.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(max(self.scaling.min_instances, at_least)):
                group.start_soon(start_one)
        if failures:
            raise failures[0]

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[str]:
        """The base URL of an instance with a free slot, held until the block ends."""
        instance = await self._take_slot()
        self.counters.add("instance_requests", instance.name)
        try:
            yield instance.url
        finally:
            instance.in_flight -= 1
            if instance.in_flight == 0:
                instance.idle_since = self.clock()
            self._notify()

    async def _take_slot(self) -> Instance:
        deadline: float | None = None  # set when the request first has to wait (a cold start is not waiting)
        while True:
            changed = self._event()
            instance = self._free_instance()
            if instance is not None:
                instance.in_flight += 1
                instance.served += 1
                return instance
            if self._should_start():
                await self._start_instance()  # raises InstanceStartError if it cannot start
                continue
            if deadline is None:
                deadline = anyio.current_time() + self.timings.pending_seconds
            self._waiting += 1
            try:
                with anyio.move_on_after(deadline - anyio.current_time()) as waited:
                    await changed.wait()
            finally:
                self._waiting -= 1
            if waited.cancelled_caught:
                raise NoInstanceError(
                    f"no instance of {self.service} had a free slot within {self.timings.pending_seconds:g}s "
                    f"({self.scaling.max_instances} instances x concurrency {self.scaling.concurrency})"
                )

    def _free_instance(self) -> Instance | None:
        self._drop_exited()
        ready = [i for i in self.instances if i.ready and i.in_flight < self.scaling.concurrency]
        if not ready:
            return None
        self._turn += 1
        return ready[self._turn % len(ready)]

    def _should_start(self) -> bool:
        """Start another only if the ones already starting cannot absorb the requests already waiting."""
        if len(self.instances) >= self.scaling.max_instances:
            return False
        starting = sum(1 for i in self.instances if not i.ready)
        return self._waiting + 1 > starting * self.scaling.concurrency

    async def _start_instance(self) -> Instance:
        name = f"{self.service}-{next(self._numbers):05d}"
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            runner = self.make_runner(name, folder)
        except (EmulatorError, OSError) as exc:  # say, its files could not be copied: it did not start
            raise InstanceStartError(f"instance {name} of {self.service} did not start: {exc}", port=0,
                                     cause=str(exc)) from exc  # fmt: skip
        instance = Instance(name=name, port=0, runner=runner, folder=folder)
        self.instances.append(instance)
        self.counters.add("instance_starts", self.service)

        def choose_port() -> int:
            instance.port = self.choose_port()  # shown while it starts (``snapshot``)
            return instance.port

        try:
            # Shielded: a request that gives up waiting must not leave a half-started instance behind.
            with anyio.CancelScope(shield=True):
                await start_listening(instance.runner, self.timings.startup_seconds, choose_port)
        except ServiceStartError as exc:  # the runner is stopped already
            self.instances.remove(instance)
            self._notify()
            message = f"instance {name} of {self.service} did not start: {exc}"
            raise InstanceStartError(message, port=exc.port, cause=str(exc)) from exc
        instance.ready = True
        instance.idle_since = self.clock()
        logger.info("instance %s started on port %d (%d running)", name, instance.port, len(self.instances))
        self._notify()
        return instance

    def _drop_exited(self) -> None:
        for instance in [i for i in self.instances if i.ready and i.runner.returncode is not None]:
            self.instances.remove(instance)
            self.exited = instance.runner.returncode
            logger.error("instance %s exited on its own with status %s", instance.name, self.exited)

    async def reap_idle(self) -> list[str]:
        """Stop instances idle for ``idle_seconds``, newest first, down to ``min_instances``; their names."""
        now = self.clock()
        idle = [
            i
            for i in reversed(self.instances)
            if i.ready and i.in_flight == 0 and now - i.idle_since >= self.timings.idle_seconds
        ]
        surplus = len(self.instances) - self.scaling.min_instances
        stopped = idle[: max(0, surplus)]
        for instance in stopped:
            self.instances.remove(instance)  # no new request can pick it from here on
        for instance in stopped:
            await anyio.to_thread.run_sync(instance.runner.stop)
            self.counters.add("instance_stops", self.service)
            logger.info("instance %s stopped after %gs idle", instance.name, self.timings.idle_seconds)
        return [instance.name for instance in stopped]

    async def run_reaper(self) -> None:
        """``reap_idle`` every little while, until cancelled."""
        while True:
            await anyio.sleep(max(0.2, min(5.0, self.timings.idle_seconds / 4)))
            await self.reap_idle()

    async def stop(self) -> None:
        """SIGTERM every instance at once (each gets Cloud Run's 10 s before SIGKILL)."""
        instances, self.instances = self.instances, []
        async with anyio.create_task_group() as group:
            for instance in instances:
                group.start_soon(_stop_runner, instance.runner)

    def snapshot(self) -> list[dict[str, Any]]:
        """Each instance's name, URL, state, requests in flight and served (the admin API's view)."""
        return [
            {
                "name": i.name,
                "url": i.url,
                "state": "ready" if i.ready else "starting",
                "in_flight": i.in_flight,
                "served": i.served,
            }
            for i in self.instances
        ]

    def _event(self) -> anyio.Event:
        """The event the next change sets (made on first use: an Event belongs to the running event loop)."""
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


async def _stop_runner(runner: Runner) -> None:
    await anyio.to_thread.run_sync(runner.stop)
