"""Google's certs endpoint failing under concurrent callers: real ``cloudgate serve`` processes, the real emulator
as Google (its certs reached through a TCP relay the test cuts), ID tokens minted by the real google-auth.

- ``verify`` mode, warm (the service fetched the keys and verified some tokens before the cut): callers whose
  tokens were verified, and callers with new tokens signed by a key it holds, get 0 failures; forged tokens are
  still refused; a token signed by a key Google started using during the outage gets 503 with ``Retry-After``
  (it cannot be checked: never accepted, and never a 401 telling a valid caller its token is bad), and is
  accepted once the endpoint is back.
- ``verify`` mode, cold (the endpoint down since the service started): every token gets 503 with ``Retry-After``,
  0 accepted, no other 5xx; the service recovers without a restart once the endpoint answers.
- ``cloud-run`` mode never fetches certs (Cloud Run's front end checked the token): with the endpoint unreachable
  from the start, callers through the front end get 0 failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.service_env import Served, serve
from tests.load.blackhole import Blackhole
from tests.load.fault_app import APP, SERVE_ARGS
from tests.load.fault_load import Tally, hammer, probe
from tests.load.front_end_stack import assert_nothing_broke
from tests.load.google_side import AUDIENCE, CERTS_PATH, Google, bearer, forged, start_google
from tests.support import CLOUDGATE, Drain, start_process, wait_for_port, wait_until
from tests.tcp_relay import TcpRelay

pytestmark = [pytest.mark.e2e, pytest.mark.load]

PATH = "/v1/google"
#: Accounts 0-2 verified before the cut, 3-5 first seen during it, 6 signs after Google's key rotation.
CACHED, FRESH, ROTATED = (0, 1, 2), (3, 4, 5), 6


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Google]:
    started = start_google(tmp_path_factory.mktemp("google"), accounts=7)
    try:
        yield started
    finally:
        output = started.stop()
    assert_nothing_broke(output)


@pytest.fixture
def certs_relay(google: Google) -> Iterator[TcpRelay]:
    """The way from the service to the emulator's certs endpoint, which the test cuts."""
    relay = TcpRelay(f"127.0.0.1:{google.port}")
    try:
        yield relay
    finally:
        relay.close()


def _service_env(certs_at: str, folder: Path, mode: str) -> dict[str, str]:
    """The service's settings, with Google's certs reached at ``certs_at`` (``host:port``)."""
    return {
        "CLOUDGATE_IDENTITY": mode,
        "CLOUDGATE_AUDIENCES": AUDIENCE,
        "CLOUDGATE_CERTS_URL": f"http://{certs_at}{CERTS_PATH}",
        "CLOUDGATE_KEYSTORE": f"sqlite:///{folder / 'no-keys.sqlite3'}",  # the route needs no key
    }


def _status(served: Served, token: str) -> int:
    return httpx.get(served.url + PATH, headers=bearer(token), timeout=30).status_code


def _expect(tally: Tally, expected: dict[str, str]) -> None:
    for kind, answer in expected.items():
        assert tally.outcomes(kind) == {answer: tally.sent(kind)}, f"{kind}:\n{tally.report()}"


def test_verify_mode_warm_callers_keep_working_while_certs_are_down(
    google: Google, certs_relay: TcpRelay, tmp_path: Path
) -> None:
    """Warm: verified tokens and new tokens of a held key 0 failures; forged refused; a new key's token 503."""
    cached = [google.id_token(n) for n in CACHED]
    fresh = [google.id_token(n) for n in FRESH]
    env = _service_env(certs_relay.address, tmp_path, "verify") | {"CLOUDGATE_CERTS_REFETCH_COOLDOWN_SECONDS": "2"}
    with serve(APP, env, args=SERVE_ARGS) as served:
        assert [_status(served, token) for token in cached] == [200] * len(cached)
        certs_relay.cut()
        google.rotate_keys()
        rotated = google.id_token(ROTATED)
        # The service learns of the outage at its first refetch (an unknown kid, past the 2 s cooldown).
        wait_until(lambda: _status(served, rotated) == 503, timeout=60, what="a failed refetch")
        probes = [
            *(probe("cached", PATH, bearer(token)) for token in cached),
            *(probe("fresh", PATH, bearer(token)) for token in fresh),
            probe("rotated", PATH, bearer(rotated)),
            probe("forged", PATH, bearer(forged(cached[0]))),
            probe("made-up kid", PATH, bearer(forged(cached[0], kid="made-up-kid"))),
        ]
        tally = hammer(served.url, probes)
        certs_relay.restore()
        _expect(
            tally,
            {
                "cached": "accepted",
                "fresh": "accepted",
                "forged": "refused",
                "rotated": "unavailable",
                "made-up kid": "unavailable",
            },
        )
        assert tally.total("accepted") == tally.sent("cached") + tally.sent("fresh"), tally.report()
        wait_until(lambda: _status(served, rotated) == 200, timeout=60, what="the new key fetched once certs are back")
    assert_nothing_broke(served.output)


def test_verify_mode_cold_is_503_then_recovers(google: Google, certs_relay: TcpRelay, tmp_path: Path) -> None:
    """Cold: certs down since start: every token (genuine, forged, made-up kid) 503 + Retry-After, 0 accepted, no
    other 5xx; once certs answer, genuine tokens are accepted and forged ones refused."""
    certs_relay.cut()
    genuine = [google.id_token(n) for n in CACHED]
    probes = [
        *(probe("genuine", PATH, bearer(token)) for token in genuine),
        probe("forged", PATH, bearer(forged(genuine[0]))),
        probe("made-up kid", PATH, bearer(forged(genuine[0], kid="made-up-kid"))),
    ]
    # With no keys at all, a failed fetch is retried after a pause of min(cooldown, 5 s): 1 s here, to keep it short.
    env = _service_env(certs_relay.address, tmp_path, "verify") | {"CLOUDGATE_CERTS_REFETCH_COOLDOWN_SECONDS": "1"}
    with serve(APP, env, args=SERVE_ARGS) as served:
        outage = hammer(served.url, probes)
        certs_relay.restore()
        _expect(outage, {"genuine": "unavailable", "forged": "unavailable", "made-up kid": "unavailable"})
        wait_until(lambda: _status(served, genuine[0]) == 200, timeout=60, what="recovery once certs answer")
        recovered = hammer(served.url, probes, requests_per_client=2)
    assert_nothing_broke(served.output)
    _expect(recovered, {"genuine": "accepted", "forged": "refused", "made-up kid": "refused"})


@contextmanager
def _upstream(google: Google, env: dict[str, str]) -> Iterator[Drain]:
    """``cloudgate serve`` on the port the emulator's front end forwards to."""
    proc = start_process([CLOUDGATE, "serve", APP, *SERVE_ARGS], env={**env, "PORT": str(google.upstream_port)})
    drain = Drain(proc)
    try:
        wait_for_port(google.upstream_port, proc=None, timeout=60)
        yield drain
    finally:
        drain.stop()


def test_cloud_run_mode_never_needs_the_certs_endpoint(google: Google, certs_relay: TcpRelay, tmp_path: Path) -> None:
    """cloud-run mode behind the (emulated) front end, certs unreachable from the start: 0 failures for invokers,
    forged tokens refused by the front end."""
    certs_relay.cut()
    genuine = [google.id_token(n) for n in CACHED]
    probes = [
        *(probe("genuine", PATH, bearer(token)) for token in genuine),
        probe("forged", PATH, bearer(forged(genuine[0]))),
    ]
    with _upstream(google, _service_env(certs_relay.address, tmp_path, "cloud-run")) as service_log:
        tally = hammer(google.frontend_url, probes)
    assert_nothing_broke(service_log.output)
    _expect(tally, {"genuine": "accepted", "forged": "refused"})


def test_verify_mode_certs_endpoint_hanging_is_503_not_a_hang(google: Google, tmp_path: Path) -> None:
    """The certs endpoint accepts connections and never answers (cold): every token gets 503 + Retry-After once
    the fetch times out (5 s), 0 accepted, no request left hanging (the callers share one fetch at a time, then
    a pause counted from the failure)."""
    genuine = [google.id_token(n) for n in CACHED]
    probes = [probe("genuine", PATH, bearer(token)) for token in genuine]
    hole = Blackhole()
    try:
        with serve(APP, _service_env(hole.address, tmp_path, "verify"), args=SERVE_ARGS) as served:
            tally = hammer(served.url, probes)
        assert_nothing_broke(served.output)
    finally:
        hole.close()
    print(f"certs fetches tried: {hole.connections}")  # a figure; the pause itself is unit-tested with a clock
    _expect(tally, {"genuine": "unavailable"})
