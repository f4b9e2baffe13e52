"""The SQLite key store failing under concurrent callers: a real ``cloudgate serve``, its key file moved away,
deleted, or held by another connection in exclusive locking mode.

Secure: while the store cannot be read, a key the service has not cached gets 503 with ``Retry-After`` (valid,
revoked or made up alike: never accepted, never a 401 that would tell a valid caller its key is bad), keys it
cached before keep their answer, and nothing else is a 5xx; once the store is back, the service answers as before
without a restart. A write transaction held open is not an outage: SQLite's WAL lets readers go on.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudgate.service.keys import open_keystore
from tests.e2e.service_env import Served
from tests.load import keystore_probes as kp
from tests.load.fault_load import hammer, probe
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.load]


def _moved(path: Path) -> Callable[[], None]:
    aside = path.with_name("moved-away.sqlite3")
    path.rename(aside)
    return lambda: aside.rename(path)


def _deleted(path: Path) -> Callable[[], None]:
    backup = path.with_name("backup.sqlite3")
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        path.with_name(name).unlink(missing_ok=True)
    return lambda: shutil.move(backup, path)


def _locked(path: Path) -> Callable[[], None]:
    """Another connection in exclusive locking mode: once it has written, nobody else can read the file."""
    locker = sqlite3.connect(path, isolation_level=None, timeout=0)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("COMMIT")  # the lock stays: exclusive locking mode keeps it until the connection closes
    return locker.close


@dataclass
class SharedServer:
    """One service for the faults that let it look keys up first; each test brings its own fresh keys."""

    served: Served
    path: Path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    path = tmp_path_factory.mktemp("sqlite-faults") / "keys.sqlite3"
    open_keystore(f"sqlite:///{path}").close()
    with kp.key_service(f"sqlite:///{path}") as served:
        yield SharedServer(served, path)


def _outage_then_recovery(served: Served, keys: kp.Keys, *, warmed: bool, undo: Callable[[], None]) -> None:
    outage = hammer(served.url, kp.probes(keys, warmed=warmed))
    undo()
    kp.assert_outage(outage, warmed=warmed)
    wait_until(lambda: kp.answers_again(served, keys), what="recovery after the key file came back")
    kp.assert_recovered(hammer(served.url, kp.probes(keys, warmed=True), requests_per_client=2))


@pytest.mark.parametrize("fault", [_moved, _deleted], ids=["moved", "deleted"])
def test_key_file_gone_is_503_then_recovers(shared: SharedServer, fault: Callable[[Path], Callable[[], None]]) -> None:
    """Key file moved away or deleted (the service had it open): 503 + Retry-After for every uncached key (not the
    stale copy the open connection could still read), cached answers kept, no other 5xx; the file put back (the
    same one, or a restored backup) is used again without a restart."""
    store = open_keystore(f"sqlite:///{shared.path}")
    keys = kp.make_keys(store)
    store.close()
    kp.warm(shared.served, keys)
    _outage_then_recovery(shared.served, keys, warmed=True, undo=fault(shared.path))


def test_key_file_locked_is_503_then_recovers(tmp_path: Path) -> None:
    """Another connection holds the file in exclusive locking mode when the service first opens it: each uncached
    key gets 503 + Retry-After once the busy timeout has passed (queued lookups fail with the first, not one
    timeout each), 0 accepted, no other 5xx; the lock released, the service answers normally."""
    path = tmp_path / "keys.sqlite3"
    store = open_keystore(f"sqlite:///{path}")
    keys = kp.make_keys(store)
    store.close()
    undo = _locked(path)
    try:
        with kp.key_service(f"sqlite:///{path}") as served:
            _outage_then_recovery(served, keys, warmed=False, undo=undo)
    finally:
        undo()


def test_an_open_write_transaction_is_not_an_outage(shared: SharedServer) -> None:
    """Another connection holds BEGIN EXCLUSIVE with a revocation not yet committed: readers go on (WAL), so
    every caller gets its normal answer (the uncommitted revocation is not seen), 0 5xx."""
    store = open_keystore(f"sqlite:///{shared.path}")
    keys = kp.make_keys(store)
    pending = store.create("pending-revocation", ["faults:read"])
    store.close()
    kp.warm(shared.served, keys)
    writer = sqlite3.connect(shared.path, isolation_level=None, timeout=10)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        at = datetime.now(UTC).isoformat()
        writer.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", (at, pending[0].key_id))
        tally = hammer(
            shared.served.url,
            [*kp.probes(keys, warmed=True), probe("pending", kp.PATH, {"X-API-Key": pending[1]})],
            requests_per_client=2,
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    kp.assert_recovered(tally)
    assert tally.outcomes("pending") == {"accepted": tally.sent("pending")}, tally.report()
