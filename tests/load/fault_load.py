"""Concurrent callers for the fault tests, and the tally of what they got back.

``hammer(url, probes)`` runs ``CLIENTS`` clients on 127.0.0.1 at once, each sending ``REQUESTS_PER_CLIENT``
requests (its own keep-alive connection, probes taken in turn), within ``DEADLINE_S``. Each answer is counted
under the probe's kind (what the caller presented: a cached key, a revoked one...) and its outcome:

- ``accepted``: 2xx;
- ``refused``: 401 or 403;
- ``unavailable``: 503 with an integer ``Retry-After`` >= 1 and the JSON error body (the documented answer);
- anything else is named by itself (``503 without Retry-After``, ``500``, ``timeout``, ``not sent``...), and a
  test that expects none of those fails showing the whole tally.

Bounded: a fixed number of requests, a per-request timeout, a deadline for the whole run. The full pass of
``make load`` (``tests/load/passes.py``) raises the counts; the assertions stay the same.

Threads, not the event loop of ``tests/load/clients.py``: the fault tests send a fixed number of requests each
and count them by kind, which plain blocking clients say most simply.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from tests.load.passes import sized

#: Concurrent clients (the fault tests' range is 20-40: enough to queue on a failing store or certs fetch).
CLIENTS = sized(24, 40)
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
    clients: int = CLIENTS,
    requests_per_client: int = REQUESTS_PER_CLIENT,
    deadline_s: float = DEADLINE_S,
) -> Tally:
    """Send ``clients * requests_per_client`` requests from ``clients`` threads started together; count them."""
    tally = Tally()
    start = threading.Barrier(clients)
    deadline = time.monotonic() + deadline_s

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as http:
            start.wait(timeout=60)  # all clients begin together (or the run fails loudly)
            for n in range(requests_per_client):
                chosen = probes[(index + n) % len(probes)]
                if time.monotonic() > deadline:
                    tally.add(chosen.kind, "not sent", 0.0)
                    continue
                began = time.monotonic()
                try:
                    result = outcome(http.get(chosen.path, headers=dict(chosen.headers())))
                except httpx.TimeoutException:
                    result = "timeout"
                except httpx.TransportError as exc:
                    result = f"transport error {type(exc).__name__}"
                tally.add(chosen.kind, result, time.monotonic() - began)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(deadline_s + REQUEST_TIMEOUT_S + 5)
    tally.seconds = time.monotonic() - began
    print(f"\n{clients} clients: {tally.report()}")  # the figures `make load` shows (pytest -s)
    return tally
