"""A key revoked mid-load: 80 clients call the example service through the front end with one API key, and the
operator revokes it with ``cloudgate keys revoke`` while they do.

The bound is the service's stated one: a revocation takes effect within ``CLOUDGATE_KEY_CACHE_SECONDS`` (set to
``KEY_CACHE_SECONDS`` for these stacks) for an SQLite store. So every request sent once the command has returned
and that period has passed is refused (401 ``api_key_revoked``), and none is accepted; every request answered
before the command started was accepted; in between, each is one or the other, never anything else. The bound is taken from the
configuration; nothing waits a guessed time: the load runs until enough requests were sent after the bound.
"""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.load.clients import running_load, summary
from tests.load.conftest import KEY_CACHE_SECONDS
from tests.load.front_end_stack import FrontEndStack
from tests.load.passes import CLIENTS, sized
from tests.support import CLOUDGATE, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.load]

#: Requests answered before the revocation (every client has its connection and the key is cached), and requests
#: sent after the bound that must all be refused.
ACCEPTED_BEFORE = sized(5, 50) * CLIENTS
SENT_AFTER_BOUND = sized(5, 50) * CLIENTS


def test_a_key_revoked_under_load_is_refused_within_the_cache_period(
    example_stack: FrontEndStack, record_property: pytest.RecordProperty
) -> None:
    key_id, secret = example_stack.create_key("revoked-under-load", ["datasets:read"])

    async def request(http: httpx.AsyncClient, index: int) -> httpx.Response:
        return await http.get("/v1/whoami")

    def describe(response: httpx.Response) -> str:
        if response.status_code == 401 and response.headers.get("content-type") == "application/json":
            return str(response.json().get("reason"))  # the service's refusal, not the front end's
        return "" if response.status_code == 200 else response.text[:200]

    headers = example_stack.headers(secret)
    with running_load(example_stack.url, headers, request, describe, deadline_s=sized(300, 900)) as load:
        load.wait_until(
            lambda done: sum(o.status == 200 for o in done) >= ACCEPTED_BEFORE, timeout=300, what="load under way"
        )
        revoke_started = time.monotonic()
        argv = [CLOUDGATE, "keys", "revoke", key_id, "--keystore", example_stack.keystore]
        result = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=120)
        assert result.returncode == 0, result.stderr
        returned = time.monotonic()  # the command has returned: the revocation is committed
        bound = returned + KEY_CACHE_SECONDS
        load.wait_until(
            lambda done: sum(o.sent > bound for o in done) >= SENT_AFTER_BOUND,
            timeout=300,
            what="requests sent after the bound",
        )

    # Answered before the command started: the service was done with them before any revocation.
    before = [o for o in load.outcomes if o.answered < revoke_started]
    # Sent after the bound: the service saw them later still.
    after = [o for o in load.outcomes if o.sent > bound]
    between = [o for o in load.outcomes if o.answered >= revoke_started and o.sent <= bound]
    accepted = [o.sent for o in load.outcomes if o.status == 200]
    figures = {
        "cli_seconds": round(returned - revoke_started, 3),
        "last_accepted_sent_after_cli_returned_s": round(max(accepted) - returned, 3),
        "bound_after_cli_returned_s": KEY_CACHE_SECONDS,
        "refused_after_bound": len(after),
    }
    record_property("revocation_under_load", figures)
    print(
        f"\nrevoked under load: {figures}; before {summary(before)}; between {summary(between)}; after {summary(after)}"
    )

    assert before and all((o.status, o.detail) == (200, "") for o in before), summary(before)
    assert all((o.status, o.detail) in {(200, ""), (401, "api_key_revoked")} for o in between), summary(between)
    assert len(after) >= SENT_AFTER_BOUND
    assert all((o.status, o.detail) == (401, "api_key_revoked") for o in after), summary(after)
