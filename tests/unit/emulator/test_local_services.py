"""The admin API's door for services a local command deploys (``PUT /admin/services/NAME``): the same service
object as ``gcloud run deploy`` makes, bindings made before kept, refusals as 4xx.

The runtime here only records what the control plane asks of it (the ``Runtime`` protocol); the real one runs
behind ``cloudgate dev`` in ``tests/e2e/test_dev_gcloud.py`` and ``test_emulator_lifecycle.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.google import INVOKER_ROLE

pytestmark = pytest.mark.anyio


class RecordingRuntime:
    """Hands out the URL of the port asked for (or 9999), and records the rollouts asked for."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.rollouts: list[str] = []

    def reserve_url(self, name: str, port: int = 0) -> str:
        return self.urls.setdefault(name, f"http://127.0.0.1:{port or 9999}")

    def reserve_tag_url(self, name: str, tag: str, port: int = 0) -> str:
        return f"http://127.0.0.1:{port or 9998}"

    def rollout(self, name: str) -> None:
        self.rollouts.append(name)

    def remove(self, name: str) -> None:
        self.urls.pop(name, None)

    def secret_changed(self, secret_id: str) -> None:
        pass


@pytest.fixture
def runtime(ctx: EmulatorContext) -> RecordingRuntime:
    ctx.runtime = RecordingRuntime()
    return ctx.runtime


def _service(name: str = "dev") -> dict[str, Any]:
    container = {"image": "cloudgate/local-command", "command": ["python3"], "args": ["-m", "app"]}
    return {"metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [container]}}}}


async def test_a_deployed_service_is_a_cloud_run_service_at_the_port_asked_for(
    google: httpx.AsyncClient, runtime: RecordingRuntime, ctx: EmulatorContext
) -> None:
    answer = await google.put("/admin/services/dev", json={"service": _service(), "port": 8123})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"]["url"] == "http://127.0.0.1:8123"
    assert [c["status"] for c in answer.json()["status"]["conditions"] if c["type"] == "Ready"] == ["Unknown"]
    assert runtime.rollouts == ["dev"]
    assert ctx.store.current().services["dev"].resource["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "-m",
        "app",
    ]
    assert (await google.get("/admin/services/dev")).json()["metadata"]["name"] == "dev"


async def test_bindings_made_before_the_deploy_stay(
    google: httpx.AsyncClient, runtime: RecordingRuntime, ctx: EmulatorContext
) -> None:
    iam.ensure_service(ctx.store, "dev", url="http://127.0.0.1:1")
    iam.grant_service_role(ctx.store, "dev", INVOKER_ROLE, "allUsers")
    assert (await google.put("/admin/services/dev", json={"service": _service(), "port": 0})).status_code == 200
    assert ctx.store.current().services["dev"].bindings == {INVOKER_ROLE: ["allUsers"]}


async def test_a_service_already_listening_elsewhere_is_409(
    google: httpx.AsyncClient, runtime: RecordingRuntime
) -> None:
    assert (await google.put("/admin/services/dev", json={"service": _service(), "port": 8123})).status_code == 200
    moved = await google.put("/admin/services/dev", json={"service": _service(), "port": 8124})
    assert moved.status_code == 409 and "already listens at http://127.0.0.1:8123" in moved.text


@pytest.mark.parametrize(
    "body",
    [{"port": 1}, {"service": _service(), "port": "80"}, {"service": _service(), "port": 70000}, {"service": []}],
)
async def test_a_malformed_request_is_400(google: httpx.AsyncClient, runtime: RecordingRuntime, body: Any) -> None:
    assert (await google.put("/admin/services/dev", json=body)).status_code == 400


async def test_a_service_the_api_refuses_is_400_with_its_message(
    google: httpx.AsyncClient, runtime: RecordingRuntime
) -> None:
    answer = await google.put("/admin/services/dev", json={"service": _service("other"), "port": 0})
    assert answer.status_code == 400 and "does not match" in answer.json()["error"]["message"]
    assert runtime.rollouts == []


async def test_reading_a_service_that_does_not_exist_is_404(google: httpx.AsyncClient) -> None:
    assert (await google.get("/admin/services/ghost")).status_code == 404
