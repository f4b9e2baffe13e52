"""The Firestore key store unreachable under concurrent callers: a real ``cloudgate serve`` reaching the real
Firestore emulator (the session's, from ``tests/conftest.py``) through a TCP relay that the test cuts, as a
stopped emulator or a lost network would look to the service.

Secure: while Firestore cannot be reached, a key the service has not cached gets 503 with ``Retry-After`` (valid,
revoked or made up alike: never accepted, never a 401), keys it cached before keep their answer, and nothing else
is a 5xx; once the relay is back, the service answers as before without a restart (after gRPC's own reconnect
back-off, which the test waits out as a condition). An address that accepts and never answers (a dropped
network path) is a 503 too, once the read deadline passes: never a hang.
"""

from __future__ import annotations

import pytest

from cloudgate.service.keys import open_keystore
from tests.firestore_emulator import fresh_collection_url
from tests.load import keystore_probes as kp
from tests.load.blackhole import Blackhole
from tests.load.fault_load import hammer
from tests.support import wait_until
from tests.tcp_relay import TcpRelay

pytestmark = [pytest.mark.e2e, pytest.mark.load]


def test_firestore_unreachable_is_503_then_recovers(firestore_host: str) -> None:
    """Firestore cut off after the service looked two keys up: 503 + Retry-After for every uncached key, cached
    answers kept, 0 accepted otherwise, no other 5xx; recovery once Firestore is reachable again."""
    url = fresh_collection_url()
    store = open_keystore(url)
    keys = kp.make_keys(store)
    store.close()
    relay = TcpRelay(firestore_host)
    try:
        with kp.key_service(url, FIRESTORE_EMULATOR_HOST=relay.address) as served:
            kp.warm(served, keys)
            relay.cut()
            outage = hammer(served.url, kp.probes(keys, warmed=True))
            relay.restore()
            kp.assert_outage(outage, warmed=True)
            # gRPC reconnects after its own back-off (1 s, growing): wait for it, do not guess it.
            wait_until(lambda: kp.answers_again(served, keys), timeout=120, what="recovery once Firestore is back")
            kp.assert_recovered(hammer(served.url, kp.probes(keys, warmed=True), requests_per_client=2))
    finally:
        relay.close()


def test_firestore_hanging_is_503_not_a_hang(firestore_host: str) -> None:
    """Firestore's address accepts connections and never answers (a dropped network path): each uncached key gets
    503 + Retry-After once the 5 s read deadline passes (queued lookups fail with the first ones), 0 accepted, no
    request left hanging, no other 5xx."""
    url = fresh_collection_url()
    store = open_keystore(url)
    keys = kp.make_keys(store)
    store.close()
    hole = Blackhole()
    try:
        with kp.key_service(url, FIRESTORE_EMULATOR_HOST=hole.address) as served:
            outage = hammer(served.url, kp.probes(keys, warmed=False))
    finally:
        hole.close()
    print(f"connections to the silent Firestore: {hole.connections}")
    kp.assert_outage(outage, warmed=False)
