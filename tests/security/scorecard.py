"""The security suite's scorecard: one closing line, ``N tried, R rejected as expected, A accepted, E 5xx``.

What counts as one attack:
- each outcome a test records with the ``attack`` fixture (``attack(label, response, expect=...)``), one per request;
- each other test in ``tests/security/`` (a parametrized case is a test), as one attack: its assertions state the
  secure answer, so a pass is "rejected as expected".
How a failure is classed: a recorded answer outside ``expect`` is ``5xx`` when its status is a 5xx, else
``accepted``; an unrecorded test that fails is ``5xx`` if any response it received over httpx was an unexpected 5xx
(observed by an autouse fixture), else ``accepted``. Skipped tests count nowhere. ``A`` and ``E`` must be 0: any
attack counted there is also a failing test, so the run is red either way; the line says which kind it was.

A plugin of the whole run (``pytest_plugins`` in ``tests/conftest.py``), so that under pytest-xdist the controller,
which collects nothing, still prints the line: each worker hands its tally over as it finishes (``workeroutput``)
and the controller adds them up.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import pytest


@dataclass(frozen=True)
class AttackOutcome:
    """One attack a security test made, and how the target answered (for the suite's scorecard)."""

    test: str
    label: str
    status: int
    expected: tuple[int, ...]

    @property
    def outcome(self) -> str:
        """``5xx``, ``rejected`` (answered as expected) or ``accepted`` (answered anything else)."""
        if self.status >= 500 and self.status not in self.expected:
            return "5xx"
        return "rejected" if self.status in self.expected else "accepted"


#: Every attack recorded this session, in order; read by the scorecard (issue 14) at the end of the run.
ATTACK_OUTCOMES = pytest.StashKey[list[AttackOutcome]]()
Attack = Callable[..., httpx.Response]


@pytest.fixture
def attack(request: pytest.FixtureRequest) -> Attack:
    """``attack(label, response, expect=401)``: record one attack's outcome, then assert it was refused as expected."""
    outcomes = request.config.stash.setdefault(ATTACK_OUTCOMES, [])

    def record(label: str, response: httpx.Response, expect: int | tuple[int, ...] = 401) -> httpx.Response:
        expected = (expect,) if isinstance(expect, int) else expect
        outcomes.append(AttackOutcome(request.node.nodeid, label, response.status_code, expected))
        assert response.status_code in expected, f"{label}: HTTP {response.status_code} {response.text[:300]}"
        return response

    return record


#: The security suite's own floor: fewer attacks than this means the suite lost cases.
MINIMUM_ATTACKS = 150
_SECURITY_DIR = "tests/security/"


@dataclass
class Tally:
    rejected: int = 0
    accepted: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.rejected + self.accepted + self.server_errors

    def line(self) -> str:
        return f"{self.tried} tried, {self.rejected} rejected as expected, {self.accepted} accepted, {self.server_errors} 5xx"


_TALLY = pytest.StashKey[Tally]()
_SEEN_5XX = pytest.StashKey[list[int]]()


@pytest.fixture(autouse=True)
def observe_server_errors(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Note every 5xx an httpx client receives during the test (to class a failing test as ``5xx``)."""
    if not request.node.nodeid.startswith(_SECURITY_DIR):
        yield
        return
    seen = request.node.stash.setdefault(_SEEN_5XX, [])
    sync_send = httpx.Client.send
    async_send = httpx.AsyncClient.send

    def send(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
        response = sync_send(self, *args, **kwargs)
        if response.status_code >= 500:
            seen.append(response.status_code)
        return response

    async def asend(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Response:
        response = await async_send(self, *args, **kwargs)
        if response.status_code >= 500:
            seen.append(response.status_code)
        return response

    monkeypatch.setattr(httpx.Client, "send", send)
    monkeypatch.setattr(httpx.AsyncClient, "send", asend)
    yield


def _recorded(config: pytest.Config, nodeid: str) -> list[AttackOutcome]:
    return [outcome for outcome in config.stash.get(ATTACK_OUTCOMES, []) if outcome.test == nodeid]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not item.nodeid.startswith(_SECURITY_DIR) or report.skipped:
        return
    if report.when == "setup" and report.passed:
        return
    if report.when == "teardown" and report.passed:
        return
    tally = item.config.stash.setdefault(_TALLY, Tally())
    recorded = _recorded(item.config, item.nodeid)
    if report.when == "call" and recorded:
        for attack in recorded:
            kind = attack.outcome
            if kind == "rejected":
                tally.rejected += 1
            elif kind == "5xx":
                tally.server_errors += 1
                tally.failures.append(f"{attack.label} ({item.nodeid}): HTTP {attack.status}")
            else:
                tally.accepted += 1
                tally.failures.append(f"{attack.label} ({item.nodeid}): HTTP {attack.status}")
        if report.failed and all(attack.outcome == "rejected" for attack in recorded):
            tally.accepted += 1
            tally.failures.append(f"{item.nodeid}: failed after its recorded attacks")
        return
    if report.passed:
        tally.rejected += 1
    elif item.stash.get(_SEEN_5XX, []):
        tally.server_errors += 1
        tally.failures.append(f"{item.nodeid}: HTTP {item.stash[_SEEN_5XX][0]}")
    else:
        tally.accepted += 1
        tally.failures.append(f"{item.nodeid}: {report.when} failed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand this worker's tally to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    tally = session.config.stash.get(_TALLY, None)
    if workeroutput is not None and tally is not None:
        workeroutput["security_tally"] = asdict(tally)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: the controller adds up each worker's tally
def pytest_testnodedown(node: Any, error: object) -> None:
    sent = getattr(node, "workeroutput", {}).get("security_tally")
    if sent is None:
        return
    tally = node.config.stash.setdefault(_TALLY, Tally())
    tally.rejected += sent["rejected"]
    tally.accepted += sent["accepted"]
    tally.server_errors += sent["server_errors"]
    tally.failures.extend(sent["failures"])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(_TALLY, None)
    if tally is None:
        return
    terminalreporter.section("security scorecard")
    for failure in tally.failures:
        terminalreporter.write_line(f"  not as expected: {failure}")
    if tally.tried < MINIMUM_ATTACKS and _whole_suite_ran(config):
        terminalreporter.write_line(f"  only {tally.tried} attacks ran; the suite's floor is {MINIMUM_ATTACKS}")
    terminalreporter.write_line(f"security: {tally.line()}")


def _whole_suite_ran(config: pytest.Config) -> bool:
    return not config.option.keyword and not config.option.markexpr and not getattr(config.option, "lf", False)
