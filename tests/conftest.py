"""Shared fixtures: a clean environment for every test (httpx ``clean_environ`` style), the session's servers, and
how ``make test``'s workers (pytest-xdist) share the tests out.

``make test`` runs ``pytest -n N --dist loadscope``. Every worker is a process of its own with its own session
fixtures (its own redis, its own stacks); ports come from ``tests/ports.py``, which holds them across processes. A
module runs whole on one worker, so its module fixtures start once; the folders in ``_SERIAL_FOLDERS`` run whole on
one worker too, one test after another.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.firestore_emulator import FirestoreEmulator
from tests.redis_server import RedisServer
from tests.support import running

#: The security suite's scorecard (its fixtures and hooks) belongs to the whole run: see its docstring.
pytest_plugins = ["tests.security.scorecard"]

_STRIPPED_PREFIXES = ("GOOGLE_", "CLOUDSDK_", "GCE_", "CLOUDGATE_")


#: Folders whose tests run as one unit, one after another on one worker: the image tests share two image builds
#: and forget old images after; each load test loads the machine by itself and measures it.
_SERIAL_FOLDERS = ("tests/container/", "tests/load/")
#: The order units start in: the longest kinds first, the in-process tests last to fill the gaps at the end.
_FIRST = ("tests/container/", "tests/load/", "tests/e2e/", "tests/security/", "tests/app/", "tests/contract/")


def _unit(nodeid: str) -> str:
    """The unit a test is scheduled in: its module (whose module fixtures start once), or a serial folder."""
    module = nodeid.split("::", 1)[0]
    return next((folder for folder in _SERIAL_FOLDERS if module.startswith(folder)), module)


def _rank(nodeid: str) -> int:
    return next((n for n, folder in enumerate(_FIRST) if nodeid.startswith(folder)), len(_FIRST))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N --dist loadscope``: whole units (``_unit``) to each worker, in the order collected (``_rank``)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False  # the order is ours (below), not "most tests first"
    return ByUnit(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the longest kinds of test first (a stable sort: modules keep their order)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _rank(item.nodeid))


#: Seconds per unit (setup + call + teardown of all its tests), added up from every worker's reports.
_UNIT_SECONDS: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _UNIT_SECONDS[_unit(report.nodeid)] += report.duration


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The longest units last in the run's output: what the schedule has to fit around (a unit runs on one worker)."""
    if hasattr(config, "workerinput") or len(_UNIT_SECONDS) < 2:
        return
    terminalreporter.write_sep("=", f"longest units of {len(_UNIT_SECONDS)} (seconds on their worker)")
    for unit, seconds in _UNIT_SECONDS.most_common(12):
        terminalreporter.write_line(f"{seconds:8.1f}s {unit}")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Strip Google, gcloud, metadata and cloudgate variables so the machine's setup never leaks into a test."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES):
            del os.environ[name]
    # A throwaway gcloud config: tests never touch the machine's own.
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole session (127.0.0.1, a free port, nothing persisted)."""
    yield from running(RedisServer.start(tmp_path_factory.mktemp("redis")))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """One real Firestore emulator (the Cloud SDK's) for the whole session, on a free 127.0.0.1 port."""
    yield from running(FirestoreEmulator.start(tmp_path_factory.mktemp("firestore")))


@pytest.fixture
def firestore_host(firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``FIRESTORE_EMULATOR_HOST`` set to the session's emulator for this test."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    return firestore_emulator.host
