"""``make run``'s service is a Cloud Run service: the real gcloud lists it, describes it and changes its IAM live.

One ``cloudgate dev`` and one throwaway gcloud config (``cloudgate emulator gcloud-env``) for the module.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cloudgate.google import INVOKER_ROLE
from tests.e2e.stack import DevStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e


@dataclass
class DevWithGcloud:
    dev: DevStack
    env: dict[str, str]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=clean_env(**self.env), capture_output=True, text=True, timeout=180)
        if check:
            assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stderr}"
        return done

    def gcloud(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("gcloud", *args)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevWithGcloud]:
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud is not installed")
    folder = tmp_path_factory.mktemp("dev-gcloud")
    dev = DevStack.start(folder / "dev", timeout=120)
    try:
        printed = subprocess.run(
            [CLOUDGATE, "emulator", "gcloud-env", "--state-dir", str(folder / "dev" / "emulator"),
             "--config-dir", str(folder / "gcloud")],
            env=clean_env(), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        env = {}
        for line in printed.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        yield DevWithGcloud(dev, env)
    finally:
        dev.stop()


def test_gcloud_lists_the_dev_service(stack: DevWithGcloud) -> None:
    listed = stack.gcloud("run", "services", "list", "--format=value(metadata.name)").stdout.split()
    assert listed == ["dev"]


def test_gcloud_describes_the_dev_service_at_its_url_as_ready(stack: DevWithGcloud) -> None:
    described = json.loads(stack.gcloud("run", "services", "describe", "dev", "--format=json").stdout)
    assert described["status"]["url"] == stack.dev.url
    ready = [c for c in described["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_gcloud_reads_the_dev_invoker_binding(stack: DevWithGcloud) -> None:
    policy = json.loads(stack.gcloud("run", "services", "get-iam-policy", "dev", "--format=json").stdout)
    invokers = [b["members"] for b in policy["bindings"] if b["role"] == INVOKER_ROLE]
    assert invokers == [[f"serviceAccount:{stack.dev.session['invoker_email']}"]]


def test_cloudgate_audit_reads_the_dev_service(stack: DevWithGcloud) -> None:
    done = stack.run(CLOUDGATE, "audit", "dev", "--format", "json", check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: a serious finding (the default runtime account)
    findings = {f["code"]: f for f in json.loads(done.stdout)["findings"]}
    assert stack.dev.session["invoker_email"] in findings["invokers"]["message"]


def test_allusers_added_with_gcloud_opens_the_running_front_end_at_once(stack: DevWithGcloud) -> None:
    """Before: no token is refused by the front end (403). After the binding: the request reaches the app."""
    before = httpx.get(f"{stack.dev.url}/v1/whoami", timeout=30)
    assert before.status_code == 403 and "text/html" in before.headers["content-type"]  # the front end's page
    binding = ("dev", "--member=allUsers", f"--role={INVOKER_ROLE}")
    stack.gcloud("run", "services", "add-iam-policy-binding", *binding)
    try:
        after = httpx.get(f"{stack.dev.url}/v1/whoami", headers={"X-API-Key": stack.dev.api_key}, timeout=30)
        assert after.status_code == 200, after.text
        assert after.json()["scopes"] == stack.dev.session["api_key_scopes"]
    finally:
        stack.gcloud("run", "services", "remove-iam-policy-binding", *binding)
    assert httpx.get(f"{stack.dev.url}/v1/whoami", timeout=30).status_code == 403
