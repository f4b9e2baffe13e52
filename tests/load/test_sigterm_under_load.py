"""SIGTERM under load, as Cloud Run stops an instance: 80 clients call a slow route (API key + Google identity)
through the front end, and the service gets SIGTERM while at least 60 requests are inside the app.

Every request the app had started (it logs ``slow: started N``) completes with its 200 and full body, none is cut;
the process exits within Cloud Run's 10 s grace (waited for with that timeout), by uvicorn's graceful shutdown.
The clients keep calling until the process is gone: a request that had not reached the app may be refused, but
only with the front end's clean 503 (the container no longer answers), never a reset or another error.
"""

from __future__ import annotations

import json
import re
import signal
import time

import httpx
import pytest

from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S
from tests.load.clients import running_load, summary
from tests.load.conftest import StartStack
from tests.load.passes import CLIENTS, sized
from tests.support import Drain

pytestmark = [pytest.mark.e2e, pytest.mark.load]

#: How long each request stays in the app (under Cloud Run's 10 s grace, and cloudgate's 8 s drain).
SLOW_MS = 3000
#: Rounds of requests answered before the signal (every client has its connections, the key and token are cached).
ROUNDS_BEFORE_SIGTERM = sized(1, 10)
#: Requests inside the app when the signal is sent ("under load"): most of the clients'.
IN_APP_AT_SIGTERM = 3 * CLIENTS // 4
_STARTED = re.compile(r"slow: started (\d+)")
_DONE = re.compile(r"slow: done (\d+)")


def _ids(pattern: re.Pattern[str], text: str) -> set[int]:
    return {int(found) for found in pattern.findall(text)}


def _wait_for_load(drain: Drain, *, rounds: int, in_app: int, timeout: float = 180) -> None:
    """Until the app has finished ``rounds`` requests per client and has ``in_app`` requests inside it (read from
    its log markers as they come)."""
    deadline = time.monotonic() + timeout
    while True:
        output = drain.output
        started, done = _ids(_STARTED, output), _ids(_DONE, output)
        if len(done) >= rounds * CLIENTS and len(started - done) >= in_app:
            return
        assert time.monotonic() < deadline, (
            f"not under load within {timeout}s: {len(started)} started, {len(done)} done"
        )
        assert drain.proc.poll() is None, output[-3000:]
        time.sleep(0.02)  # a poll interval, not a margin: the condition above is what is waited for


def test_sigterm_under_load_lets_every_started_request_finish(
    start_stack: StartStack, record_property: pytest.RecordProperty
) -> None:
    stack = start_stack("tests.load.slow_service:create_app")
    _, secret = stack.create_key("slow", ["load:call"])

    async def request(http: httpx.AsyncClient, index: int) -> httpx.Response:
        return await http.get("/v1/slow", params={"id": index, "ms": SLOW_MS})

    def describe(response: httpx.Response) -> str:
        if response.status_code == 200:
            return ""
        # The front end's own answers are HTML pages; anything else came from the service.
        return "front end page" if response.headers["content-type"].startswith("text/html") else response.text[:200]

    with running_load(stack.url, stack.headers(secret), request, describe) as load:
        _wait_for_load(stack.service_log, rounds=ROUNDS_BEFORE_SIGTERM, in_app=IN_APP_AT_SIGTERM)
        signalled = time.monotonic()
        stack.service.send_signal(signal.SIGTERM)
        # The clients keep calling while the service drains. Cloud Run's bound: SIGKILL follows SIGTERM after
        # 10 s, so this raises TimeoutExpired if the process is still up then.
        stack.service.wait(timeout=CLOUD_RUN_SHUTDOWN_GRACE_S)
        exited_after = time.monotonic() - signalled  # reported, not asserted: the wait above is the bound
    output = stack.service_log.stop()

    started, done = _ids(_STARTED, output), _ids(_DONE, output)
    shutting_down = output.index("Shutting down")
    # In the app at the signal: started and not done before uvicorn logged its shutdown.
    before = output[:shutting_down]
    in_flight = _ids(_STARTED, before) - _ids(_DONE, before)
    outcomes = {outcome.index: outcome for outcome in load.outcomes}
    record_property("sigterm_under_load", {"in_app": len(in_flight), "exit_seconds": round(exited_after, 2)})
    print(
        f"\nSIGTERM with {len(in_flight)} requests in the app, exit {exited_after:.2f}s after; {summary(load.outcomes)}"
    )

    assert stack.service.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    assert "Finished server process" in output
    assert len(in_flight) >= CLIENTS // 2, "the signal did not come under load"
    assert started == done
    for index in started:
        outcome = outcomes[index]
        assert (outcome.status, outcome.detail) == (200, ""), outcome
        assert json.loads(outcome.body) == {"id": index, "email": stack.invoker_email}
    refused = [o for o in load.outcomes if o.status != 200]
    assert all((o.status, o.detail) == (503, "front end page") for o in refused), summary(refused)
    assert not {o.index for o in refused} & started
