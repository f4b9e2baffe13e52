"""Session-wide running stacks for end-to-end tests (see ``tests/e2e/stack.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.gcloud_stack import GcloudStack
from tests.e2e.stack import DevStack, EmulatorStack
from tests.support import running


@pytest.fixture(scope="session")
def emulator_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorStack]:
    """The emulator plus a Cloud Run front end over the echo service, shared by the session."""
    yield from running(EmulatorStack.start(tmp_path_factory.mktemp("emulator-stack")))


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``cloudgate dev`` (example service in Cloud Run mode behind the emulator), shared by the session."""
    yield from running(DevStack.start(tmp_path_factory.mktemp("dev-stack")))


@pytest.fixture(scope="module")
def gcloud_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcloudStack]:
    """The emulator (no fixed service) and the real gcloud pointed at it with a throwaway config, per module."""
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud is not installed")
    yield from running(GcloudStack.start(tmp_path_factory.mktemp("gcloud-stack")))
