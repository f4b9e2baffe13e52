"""The keys a key-store fault test presents, what it expects for each during an outage and after, and the server.

Five kinds of caller, each on the key route of ``tests.load.fault_app``:

- ``cached``: a valid key the service looked up before the outage;
- ``revoked-cached``: a revoked key the service looked up before the outage;
- ``uncached``: a valid key never presented before;
- ``revoked``: a revoked key never presented before;
- ``unknown``: a made-up key, a fresh id on every request (each one a store lookup).

The service runs with ``CLOUDGATE_KEY_CACHE_SECONDS=3600``, so a key looked up before the outage is still cached
during it whatever the machine's speed (the documented behaviour: a cached record keeps working until its entry
ends, then the key gets 503 like any other; ``tests/unit/service/keys/test_firestore.py`` moves a clock through that).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from cloudgate.service.keys import KeyStore
from tests.e2e.service_env import Served, serve
from tests.load.fault_app import APP, SERVE_ARGS
from tests.load.fault_load import Probe, Tally, probe
from tests.load.front_end_stack import assert_nothing_broke

PATH = "/v1/key"
CACHE_SECONDS = "3600"
WARMED = ("cached", "revoked-cached")


@dataclass(frozen=True)
class Keys:
    """One secret per kind (``unknown`` has none: it is made up per request)."""

    by_kind: dict[str, str]


def make_keys(store: KeyStore) -> Keys:
    """A valid and a revoked key for each of ``cached`` and ``uncached``, in ``store``."""
    by_kind = {}
    for kind in ("cached", "uncached", "revoked-cached", "revoked"):
        record, secret = store.create(kind, ["faults:read"])
        if kind.startswith("revoked"):
            store.revoke(record.key_id, datetime.now(UTC))
        by_kind[kind] = secret
    return Keys(by_kind)


def _made_up() -> dict[str, str]:
    return {"X-API-Key": f"cgk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"}


def probes(keys: Keys, *, warmed: bool) -> list[Probe]:
    """Every kind of caller (without the cached kinds when the service could not look anything up first)."""
    kinds = [k for k in keys.by_kind if warmed or k not in WARMED]
    return [probe(k, PATH, {"X-API-Key": keys.by_kind[k]}) for k in kinds] + [Probe("unknown", PATH, _made_up)]


def warm(served: Served, keys: Keys) -> None:
    """Have the service look up (and cache) the two cached kinds while the store is up."""
    with httpx.Client(base_url=served.url, timeout=30) as http:
        assert http.get(PATH, headers={"X-API-Key": keys.by_kind["cached"]}).status_code == 200
        assert http.get(PATH, headers={"X-API-Key": keys.by_kind["revoked-cached"]}).status_code == 401


def assert_outage(tally: Tally, *, warmed: bool) -> None:
    """During the outage: cached valid keys accepted, cached revoked keys refused, everything else 503 with
    ``Retry-After``. So nothing uncached is ever accepted, and no other 5xx."""
    expected = {"uncached": "unavailable", "revoked": "unavailable", "unknown": "unavailable"}
    if warmed:
        expected |= {"cached": "accepted", "revoked-cached": "refused"}
    for kind, answer in expected.items():
        assert tally.outcomes(kind) == {answer: tally.sent(kind)}, f"{kind} during the outage:\n{tally.report()}"
    assert tally.total("accepted") == (tally.sent("cached") if warmed else 0), tally.report()


def assert_recovered(tally: Tally) -> None:
    """After the outage: valid keys accepted, revoked and made-up ones refused, nothing else."""
    for kind in ("cached", "uncached"):
        assert tally.outcomes(kind) == {"accepted": tally.sent(kind)}, f"{kind} after:\n{tally.report()}"
    for kind in ("revoked-cached", "revoked", "unknown"):
        assert tally.outcomes(kind) == {"refused": tally.sent(kind)}, f"{kind} after:\n{tally.report()}"


def answers_again(served: Served, keys: Keys) -> bool:
    """True once the service accepts a valid key it never looked up during the outage (the store is back)."""
    fresh = keys.by_kind["uncached"]
    return httpx.get(served.url + PATH, headers={"X-API-Key": fresh}, timeout=30).status_code == 200


@contextmanager
def key_service(keystore: str, **env: str) -> Iterator[Served]:
    """``cloudgate serve`` of the fault app on this key store (identity off: keys only)."""
    base = {"CLOUDGATE_KEYSTORE": keystore, "CLOUDGATE_IDENTITY": "off", "CLOUDGATE_KEY_CACHE_SECONDS": CACHE_SECONDS}
    with serve(APP, {**base, **env}, args=SERVE_ARGS) as served:
        yield served
    assert_nothing_broke(served.output)  # 503s are logged as one line each, never a traceback
