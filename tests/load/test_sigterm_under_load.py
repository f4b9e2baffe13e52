"""SIGTERM under load, as Cloud Run stops an instance: 80 clients call a slow route (API key + Google identity)
through the front end, and the service gets SIGTERM while about 80 requests are inside the app.

Every request the app had started (it logs ``slow: started N``) completes with its 200 and full body, none is cut;
the process exits within Cloud Run's 10 s grace (waited for with that timeout), by uvicorn's graceful shutdown.
A request that had not reached the app may be refused, but only with the front end's clean 503, never a reset.
"""

from __future__ import annotations

import json
import re
import signal

import httpx
import pytest

from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S
from tests.load.clients import running_load, summary
from tests.load.conftest import StartStack
from tests.load.passes import CLIENTS, sized

pytestmark = [pytest.mark.e2e, pytest.mark.load]

#: How long each request stays in the app: long enough that every client has one in flight at the signal.
SLOW_MS = 1500
#: Rounds of requests answered before the signal (every client busy, connections reused).
ROUNDS_BEFORE_SIGTERM = sized(2, 10)
_STARTED = re.compile(r"slow: started (\d+)")
_DONE = re.compile(r"slow: done (\d+)")


def _ids(pattern: re.Pattern[str], text: str) -> set[int]:
    return {int(found) for found in pattern.findall(text)}


def test_sigterm_under_load_lets_every_started_request_finish(start_stack: StartStack) -> None:
    stack = start_stack("tests.load.slow_service:create_app")
    _, secret = stack.create_key("slow", ["load:call"])

    async def request(http: httpx.AsyncClient, index: int) -> httpx.Response:
        return await http.get("/v1/slow", params={"id": index, "ms": SLOW_MS})

    def describe(response: httpx.Response) -> str:
        return "" if response.status_code == 200 else response.text[:200]

    with running_load(stack.url, stack.headers(secret), request, describe) as load:
        stack.service_log.wait_for_count("slow: started", (ROUNDS_BEFORE_SIGTERM + 1) * CLIENTS, timeout=180)
        stack.service.send_signal(signal.SIGTERM)
        load.stop()  # no new requests; the ones sent are awaited
        # Cloud Run's bound: SIGKILL follows SIGTERM after 10 s. Raises TimeoutExpired if the process is still up.
        stack.service.wait(timeout=CLOUD_RUN_SHUTDOWN_GRACE_S)
    output = stack.service_log.stop()

    started, done = _ids(_STARTED, output), _ids(_DONE, output)
    shutting_down = output.index("Shutting down")
    # In flight at the signal: started before uvicorn logged its shutdown, done after it.
    in_flight = _ids(_STARTED, output[:shutting_down]) & _ids(_DONE, output[shutting_down:])
    outcomes = {outcome.index: outcome for outcome in load.outcomes}
    print(f"\nSIGTERM with {len(in_flight)} requests in the app; {summary(load.outcomes)}")

    assert stack.service.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    assert "Finished server process" in output
    assert len(in_flight) >= CLIENTS // 2, "the signal did not come under load"
    assert started == done
    for index in started:
        outcome = outcomes[index]
        assert (outcome.status, outcome.detail) == (200, ""), outcome
        assert json.loads(outcome.body) == {"id": index, "email": stack.invoker_email}
    refused = [o for o in load.outcomes if o.status != 200]
    assert all(o.status == 503 and o.index not in started for o in refused), summary(refused)
