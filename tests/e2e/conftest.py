"""Session-wide running stacks for end-to-end tests (see ``tests/e2e/stack.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import DevStack, EmulatorStack


@pytest.fixture(scope="session")
def emulator_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorStack]:
    """The emulator plus a Cloud Run front end over the echo service, shared by the session."""
    stack = EmulatorStack.start(tmp_path_factory.mktemp("emulator-stack"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``cloudgate dev`` (example service in Cloud Run mode behind the emulator), shared by the session."""
    stack = DevStack.start(tmp_path_factory.mktemp("dev-stack"))
    try:
        yield stack
    finally:
        stack.stop()
