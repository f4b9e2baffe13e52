"""Load clients: many concurrent requests from this process, one event loop in a thread of its own.

``running_load(...)`` starts ``clients`` tasks, each with a connection of its own, that send requests one after
another until ``stop()``, the deadline, or a given number of requests in all (``tests/load/fault_load.py``'s
``hammer`` is such a run). Every request's outcome is kept with the moment it was
sent, so a test can wait on a condition over them (``wait_until``) while the load runs, and judge each one after.
Bounded: 127.0.0.1 only, a fixed number of clients, a deadline on the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx

from tests.load.passes import CLIENTS

#: One request: given the shared client and the request's sequence number, send it and return the response.
Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
#: What is wrong with a response ("" when nothing is): kept as the outcome's ``detail``.
Describe = Callable[[httpx.Response], str]


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    #: ``time.monotonic()`` just before the request was handed to httpx (it leaves no earlier than that).
    sent: float
    #: ``time.monotonic()`` once the whole answer was read (the server was done with it before).
    answered: float
    #: The HTTP status, or 0 when no answer came (a reset, a refused connection): ``detail`` names the error.
    status: int
    detail: str
    body: bytes


class Load:
    """The outcomes so far, a condition to wait on, and the switch that stops the clients."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.outcomes: list[Outcome] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self.deadline

    def stop(self) -> None:
        """No new requests from here on; the ones in flight finish."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()

    def record(self, outcome: Outcome) -> None:
        with self._changed:
            self.outcomes.append(outcome)
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[list[Outcome]], bool], *, timeout: float, what: str) -> None:
        """Block until ``condition(outcomes)`` holds (re-checked as each answer comes), or fail after ``timeout``."""
        limit = time.monotonic() + timeout
        with self._changed:
            while not condition(self.outcomes):
                left = limit - time.monotonic()
                if left <= 0 or self.stopping:
                    raise TimeoutError(f"not reached within {timeout}s: {what} ({summary(self.outcomes)})")
                self._changed.wait(min(left, 1.0))


def summary(outcomes: list[Outcome]) -> str:
    """``N answers: {status/detail: count}``, for messages."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        label = f"{outcome.status} {outcome.detail}".strip()
        counts[label] = counts.get(label, 0) + 1
    return f"{len(outcomes)} answers: {dict(sorted(counts.items()))}"


async def _client(load: Load, base_url: str, plan: _Plan, numbers: Iterator[int]) -> None:
    # A client (and so a connection pool) per task: one pool shared by 80 tasks costs several ms per request in
    # httpx's pool bookkeeping, and the load would measure the load generator.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    request, describe = plan.request, plan.describe
    async with httpx.AsyncClient(
        base_url=base_url, headers=plan.headers, limits=limits, timeout=plan.timeout, trust_env=False
    ) as http:
        while not load.stopping:
            index = next(numbers)
            if plan.requests is not None and index >= plan.requests:
                return  # the run's requests are all sent
            sent = time.monotonic()
            try:
                response = await request(http, index)
            except httpx.HTTPError as exc:
                load.record(Outcome(index, sent, time.monotonic(), 0, type(exc).__name__, b""))
                continue
            outcome = Outcome(index, sent, time.monotonic(), response.status_code, describe(response), response.content)
            load.record(outcome)


@dataclass(frozen=True)
class _Plan:
    headers: dict[str, str]
    request: Request
    describe: Describe
    #: How many requests in all (``None``: until stopped), and one request's bound in seconds.
    requests: int | None
    timeout: float


async def _run(load: Load, base_url: str, plan: _Plan, clients: int) -> None:
    numbers = itertools.count()
    await asyncio.gather(*(_client(load, base_url, plan, numbers) for _ in range(clients)))


@contextlib.contextmanager
def running_load(
    base_url: str,
    headers: dict[str, str],
    request: Request,
    describe: Describe,
    *,
    clients: int = CLIENTS,
    deadline_s: float = 240.0,
    requests: int | None = None,
    timeout_s: float = 60.0,
) -> Iterator[Load]:
    """``clients`` concurrent clients sending ``request`` to ``base_url`` (127.0.0.1) until ``stop()``,
    ``deadline_s``, or ``requests`` sent in all (numbered from 0); one request's bound is ``timeout_s``. On leaving,
    the clients are stopped and their last requests awaited."""
    assert base_url.startswith("http://127.0.0.1:"), "load goes to this machine only"
    load = Load(time.monotonic() + deadline_s)
    plan = _Plan(headers, request, describe, requests, timeout_s)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_run(load, base_url, plan, clients))
        except BaseException as exc:  # reported in the test's thread below
            failure.append(exc)
            load.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop()
        thread.join(timeout=timeout_s + 30)  # the clients' own timeout bounds the last requests
        assert not thread.is_alive(), "the load clients did not stop"
    if failure:
        raise failure[0]
