"""Concurrent callers for the fault tests, and the tally of what they got back.

``hammer(url, probes)`` runs ``FAULT_CLIENTS`` clients on 127.0.0.1 at once (each its own keep-alive connection),
sending ``REQUESTS_PER_CLIENT`` requests per client in all (probes taken in turn) within ``DEADLINE_S``. Each answer is counted
under the probe's kind (what the caller presented: a cached key, a revoked one...) and its outcome:

- ``accepted``: 2xx;
- ``refused``: 401 or 403;
- ``unavailable``: 503 with an integer ``Retry-After`` >= 1 and the JSON error body (the documented answer);
- anything else is named by itself (``503 without Retry-After``, ``500``, ``timeout``, ``not sent``...), and a
  test that expects none of those fails showing the whole tally.

Bounded: a fixed number of requests, a per-request timeout, a deadline for the whole run. The full pass of
``make load`` (``tests/load/passes.py``) raises the counts; the assertions stay the same.

The clients are ``tests/load/clients.py``'s (``running_load``, bounded to the run's number of requests); each answer's
outcome is its ``detail`` there.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from tests.load.clients import running_load
from tests.load.passes import FAULT_CLIENTS, sized

REQUESTS_PER_CLIENT = sized(5, 40)
#: The whole run's bound: requests not sent by then are counted as ``not sent`` (a hang, for the test).
DEADLINE_S = float(sized(90, 300))
#: One request's bound; a request still unanswered then is counted as ``timeout``.
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Probe:
    """One kind of request: its ``kind`` names what the caller presents; ``headers`` is called for each request
    (so a probe can present a fresh made-up key every time)."""

    kind: str
    path: str
    headers: Callable[[], Mapping[str, str]]


def probe(kind: str, path: str, headers: Mapping[str, str]) -> Probe:
    """A probe that sends the same headers every time."""
    fixed = dict(headers)
    return Probe(kind, path, lambda: fixed)


@dataclass
class Tally:
    """Outcomes by probe kind, and the slowest answer of each kind (for the report, never asserted)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    slowest: dict[str, float] = field(default_factory=dict)
    #: The whole run's wall time (for the printed figures).
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.counts[kind, outcome] += 1
            self.slowest[kind] = max(self.slowest.get(kind, 0.0), seconds)

    def outcomes(self, kind: str) -> dict[str, int]:
        """``{outcome: count}`` for one kind of probe."""
        return {outcome: n for (k, outcome), n in self.counts.items() if k == kind}

    def sent(self, kind: str) -> int:
        return sum(self.outcomes(kind).values())

    def total(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.counts.items() if o == outcome)

    def report(self) -> str:
        kinds = sorted({k for k, _ in self.counts})
        lines = [f"  {k}: {self.outcomes(k)} (slowest {self.slowest.get(k, 0):.2f}s)" for k in kinds]
        return "\n".join([f"{sum(self.counts.values())} requests in {self.seconds:.1f}s", *lines])


def outcome(response: httpx.Response) -> str:
    """The outcome name of one answer (see the module docstring)."""
    status = response.status_code
    if 200 <= status < 300:
        return "accepted"
    if status in (401, 403):
        return "refused"
    if status == 503:
        retry_after = response.headers.get("retry-after", "")
        if not (retry_after.isdigit() and int(retry_after) >= 1):
            return "503 without Retry-After"
        try:
            body = response.json()
        except ValueError:
            return "503 not JSON"
        return "unavailable" if body.get("error") and body.get("detail") else "503 without the error body"
    return str(status)


def hammer(
    url: str,
    probes: Sequence[Probe],
    *,
    clients: int = FAULT_CLIENTS,
    requests_per_client: int = REQUESTS_PER_CLIENT,
    deadline_s: float = DEADLINE_S,
) -> Tally:
    """Send ``clients * requests_per_client`` requests from ``clients`` concurrent clients (``running_load``), the
    probes taken in turn; count them by probe kind and outcome."""
    total = clients * requests_per_client

    def request(http: httpx.AsyncClient, index: int) -> Awaitable[httpx.Response]:
        chosen = probes[index % len(probes)]
        return http.get(chosen.path, headers=dict(chosen.headers()))

    began = time.monotonic()
    run = running_load(
        url, {}, request, outcome, clients=clients, deadline_s=deadline_s, requests=total, timeout_s=REQUEST_TIMEOUT_S
    )
    with run as load, contextlib.suppress(TimeoutError):  # past the deadline: what was not sent is "not sent"
        load.wait_until(lambda done: len(done) >= total, timeout=deadline_s, what="every request answered")
    tally = Tally(seconds=time.monotonic() - began)
    answered = {answer.index: answer for answer in load.outcomes}
    for index in range(total):
        kind = probes[index % len(probes)].kind
        answer = answered.get(index)
        if answer is None:
            tally.add(kind, "not sent", 0.0)
        elif answer.status == 0:  # no answer: running_load names the error
            failed = "timeout" if answer.detail.endswith("Timeout") else f"transport error {answer.detail}"
            tally.add(kind, failed, answer.answered - answer.sent)
        else:
            tally.add(kind, answer.detail, answer.answered - answer.sent)
    print(f"\n{clients} clients: {tally.report()}")  # the figures `make load` shows (pytest -s)
    return tally
