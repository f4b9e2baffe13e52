"""``cloudgate dev --image``: the built image behind the emulated front end, called with real google-auth tokens."""

from __future__ import annotations

import json
import re
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
    assert re.fullmatch(r"dev-00001-[a-z]{3}", env["K_REVISION"])
    assert env["PORT"].isdigit()
