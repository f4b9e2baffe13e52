"""``cloudgate dev --image``: the built image behind the emulated front end, called with real google-auth tokens."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from tests.container.conftest import Images, podman
from tests.e2e.stack import DevStack


@pytest.fixture(scope="module")
def image_stack(built: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = DevStack.start(tmp_path_factory.mktemp("dev-image"), timeout=240, args=["--image", built.default])
    try:
        yield stack
    finally:
        stack.stop()


def _token(stack: DevStack, key_file: Path) -> str:
    creds = service_account.IDTokenCredentials.from_service_account_file(str(key_file), target_audience=stack.url)
    creds.refresh(google.auth.transport.requests.Request())
    return str(creds.token)


def test_the_invoker_with_an_api_key_reaches_the_container(image_stack: DevStack) -> None:
    headers = {"X-Serverless-Authorization": f"Bearer {_token(image_stack, image_stack.invoker_key)}"}
    response = httpx.get(f"{image_stack.url}/v1/whoami", headers={**headers, "X-API-Key": image_stack.api_key})
    assert response.status_code == 200
    assert response.json()["email"] == image_stack.session["invoker_email"]


def test_an_outsider_is_refused_by_the_front_end(image_stack: DevStack) -> None:
    headers = {"X-Serverless-Authorization": f"Bearer {_token(image_stack, image_stack.outsider_key)}"}
    assert httpx.get(f"{image_stack.url}/health", headers=headers).status_code == 403


def test_an_anonymous_caller_is_refused_by_the_front_end(image_stack: DevStack) -> None:
    assert httpx.get(f"{image_stack.url}/health").status_code == 403


def test_the_container_gets_cloud_runs_variables_and_its_logs_are_shown(image_stack: DevStack) -> None:
    headers = {"X-Serverless-Authorization": f"Bearer {_token(image_stack, image_stack.invoker_key)}"}
    httpx.get(f"{image_stack.url}/v1/whoami", headers={**headers, "X-API-Key": image_stack.api_key})
    assert image_stack.drain is not None
    image_stack.drain.wait_for('"requestUrl": "/v1/whoami"')  # the container's own JSON access line
    name = re.search(r"container (cloudgate-\S+) \(image", image_stack.drain.output)
    assert name is not None
    env = dict(
        item.split("=", 1) for item in json.loads(podman("inspect", "--format", "{{json .Config.Env}}", name[1]).stdout)
    )
    assert (env["K_SERVICE"], env["K_CONFIGURATION"]) == ("dev", "dev")
    assert re.fullmatch(r"dev-00001-[a-z0-9]{3}", env["K_REVISION"])  # Google's suffixes: letters and digits
    assert env["PORT"].isdigit()


def test_ctrl_c_stops_the_container_with_sigterm_and_no_false_sigkill(built: Images, tmp_path: Path) -> None:
    """Ctrl-C at a terminal reaches the whole foreground process group: the emulator alone handles it, stopping
    the container as Cloud Run would (SIGTERM, which the service exits 0 on), and no container is left behind."""
    stack = DevStack.start(tmp_path / "dev", timeout=240, args=["--image", built.default])
    assert stack.proc is not None and stack.drain is not None
    stack.drain.wait_for("Stop: Ctrl-C", timeout=240)
    os.killpg(stack.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    stack.proc.wait(timeout=120)  # a deadline for a hang, not the 5 s it takes
    output = stack.drain.stop()
    assert "SIGKILL" not in output
    stopped = re.search(r"container (\S+) (?:stopped|exited) with status 0", output)
    assert stopped is not None, output[-3000:]
    deadline = time.monotonic() + 120  # podman may still be deleting the container's files (vfs)
    while podman("container", "exists", stopped.group(1), check=False).returncode == 0:
        assert time.monotonic() < deadline, f"container {stopped.group(1)} left behind"
        time.sleep(0.2)
