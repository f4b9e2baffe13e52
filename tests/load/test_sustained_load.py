"""Sustained load through the front end: 80 clients (Cloud Run's default concurrency) calling the example service
with real ID tokens and an API key, through the emulator's Cloud Run front end, for a warm-up and then a longer run.

Every answer is the expected 200 (0 errors), and neither the service's nor the front end's resident memory grows
by 10% or more from the end of the warm-up to the end of the run (both read at rest, from ``/proc/PID/status``).
The short pass (CI) and the full one (``make load``) differ only in the number of requests.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.load.clients import Outcome, running_load, summary
from tests.load.front_end_stack import FrontEndStack, rss_bytes
from tests.load.passes import CLIENTS, sized

pytestmark = [pytest.mark.e2e, pytest.mark.load]

MiB = 1024 * 1024
#: Requests per client: a warm-up (imports, caches, pools and DuckDB settle), then the measured run.
WARM_UP_PER_CLIENT = sized(5, 40)
RUN_PER_CLIENT = sized(15, 300)
#: The most one phase may take (a bound on the run, not a figure under test: this machine may be busy).
PHASE_DEADLINE_S = sized(300, 1200)
MAX_DRIFT = 0.10
#: What the clients ask, in turn: the caller (key + identity), a page of rows (DuckDB), the dataset's schema.
_ROUTES = [
    ("/v1/whoami", {}),
    ("/v1/datasets/sample/rows", {"limit": "20", "filter": "category:eq:alpha"}),
    ("/v1/datasets/sample", {}),
]


def _run_phase(stack: FrontEndStack, headers: dict[str, str], per_client: int, peaks: dict[str, int]) -> list[Outcome]:
    """``per_client`` requests per client on average, all answered, while the two processes' peak RSS is kept."""

    async def request(http: httpx.AsyncClient, index: int) -> httpx.Response:
        path, params = _ROUTES[index % len(_ROUTES)]
        return await http.get(path, params=params)

    def describe(response: httpx.Response) -> str:
        if response.status_code != 200:
            return response.text[:200]
        body = response.json()
        if response.url.path == "/v1/whoami" and (body["email"], body["key_name"]) != (stack.invoker_email, "load"):
            return f"wrong caller {body}"  # the identity the front end forwarded, and the key's name
        if response.url.path.endswith("/rows") and not all(row["category"] == "alpha" for row in body["rows"]):
            return "a row outside the filter"
        return ""

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for name, pid in (("service", stack.service.pid), ("front end", stack.emulator.pid)):
                peaks[name] = max(peaks.get(name, 0), rss_bytes(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with running_load(stack.url, headers, request, describe, deadline_s=PHASE_DEADLINE_S) as load:
            wanted = per_client * CLIENTS
            load.wait_until(lambda done: len(done) >= wanted, timeout=PHASE_DEADLINE_S, what="every request answered")
    finally:
        stop.set()
        watcher.join()
    return load.outcomes


def test_80_clients_through_the_front_end_get_no_errors_and_memory_stays_flat(
    example_stack: FrontEndStack, record_property: pytest.RecordProperty
) -> None:
    _, secret = example_stack.create_key("load", ["datasets:read"])
    headers = example_stack.headers(secret)
    pids = {"service": example_stack.service.pid, "front end": example_stack.emulator.pid}
    peaks: dict[str, int] = {}

    warm_up = _run_phase(example_stack, headers, WARM_UP_PER_CLIENT, peaks)
    after_warm_up = {name: rss_bytes(pid) for name, pid in pids.items()}
    run = _run_phase(example_stack, headers, RUN_PER_CLIENT, peaks)
    at_end = {name: rss_bytes(pid) for name, pid in pids.items()}

    drift = {name: at_end[name] / after_warm_up[name] - 1 for name in pids}
    figures = {
        name: {
            "rss_after_warm_up_mib": round(after_warm_up[name] / MiB, 1),
            "rss_at_end_mib": round(at_end[name] / MiB, 1),
            "peak_mib": round(peaks[name] / MiB, 1),
            "drift": round(drift[name], 4),
        }
        for name in pids
    }
    record_property("sustained_load", json.dumps(figures))
    print(f"\n{CLIENTS} clients: warm-up {summary(warm_up)}; run {summary(run)}; memory {figures}")

    errors = [outcome for outcome in warm_up + run if outcome.status != 200 or outcome.detail]
    assert not errors, summary(errors)
    for name in pids:
        assert drift[name] < MAX_DRIFT, figures
