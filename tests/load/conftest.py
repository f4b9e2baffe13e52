"""Fixtures for load tests: the example service behind the real front end (shared by the session), and a factory
for stacks of one's own (another app, other settings) that are stopped after the test.

See ``tests/load/front_end_stack.py`` for what runs, ``tests/load/clients.py`` for the load, and
``tests/load/passes.py`` for the short (CI) and full (``make load``) passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from tests.load.front_end_stack import FrontEndStack, assert_nothing_broke, start_front_end_stack

#: The example service's key cache period in these stacks (``CLOUDGATE_KEY_CACHE_SECONDS``): the revocation bound.
KEY_CACHE_SECONDS = 1.0

StartStack = Callable[..., FrontEndStack]


@pytest.fixture(scope="session")
def example_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontEndStack]:
    """The example service (``app.main:create_app``, 1000 sample rows) behind the front end, for the session.

    Tests make their own API keys (``create_key``) and must leave it running and healthy.
    """
    stack = start_front_end_stack(
        tmp_path_factory.mktemp("load-example"),
        "app.main:create_app",
        service_env={"CLOUDGATE_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS)},
    )
    try:
        yield stack
    finally:
        service_output, front_output = stack.stop()
        assert_nothing_broke(service_output)
        assert_nothing_broke(front_output)


@pytest.fixture
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartStack]:
    """``start_stack(app, service_env={...}, timeout_seconds=300)``: a stack of the test's own, stopped afterwards
    (the test may have stopped its service itself). Nothing it printed may show a traceback."""
    stacks: list[FrontEndStack] = []

    def start(app: str, *, service_env: Mapping[str, str] | None = None, timeout_seconds: float = 300) -> FrontEndStack:
        folder = tmp_path_factory.mktemp("load-stack")
        stack = start_front_end_stack(folder, app, service_env=service_env, timeout_seconds=timeout_seconds)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        service_output, front_output = stack.stop()
        assert_nothing_broke(service_output)
        assert_nothing_broke(front_output)
