"""IAP directly on a Cloud Run service, with the real gcloud against the emulator (issue 23, control plane).

``gcloud beta run deploy --iap`` / ``services update --no-iap`` and the three ``gcloud beta iap web ...
--resource-type=cloud-run`` commands, as a project owner runs them; IAP's public keys where Google publishes them.
One service is shared by the module: each test reads back what one command changed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.gcloud_stack import GcloudStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e

SERVICE = "iap-api"
REGION = "us-central1"
ACCESSOR = "roles/iap.httpsResourceAccessor"
IAP_ANNOTATION = "run.googleapis.com/iap-enabled"


def _agent(stack: GcloudStack) -> str:
    number = httpx.get(f"{stack.emulator_url}/admin/state").raise_for_status().json()["project_number"]
    return f"serviceAccount:service-{number}@gcp-sa-iap.iam.gserviceaccount.com"


def _iap_web(stack: GcloudStack, verb: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    where = ("--resource-type=cloud-run", f"--service={SERVICE}", f"--region={REGION}", "--format=json")
    return stack.gcloud("beta", "iap", "web", verb, *where, *args, check=check)


def _bindings(printed: str) -> dict[str, list[str]]:
    return {b["role"]: b["members"] for b in json.loads(printed).get("bindings", [])}


def _user(stack: GcloudStack, email: str, folder: Path) -> str:
    done = subprocess.run(
        [CLOUDGATE, "emulator", "users", "create", email, "--out", str(folder / f"{email}.json"),
         "--emulator-url", stack.emulator_url, "--state-dir", str(stack.state_dir)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return f"user:{email}"


@pytest.fixture(scope="module")
def iap_service(gcloud_stack: GcloudStack) -> str:
    """A private service deployed with ``gcloud beta run deploy --iap``."""
    gcloud_stack.deploy(SERVICE, "--no-allow-unauthenticated")
    gcloud_stack.gcloud("beta", "run", "services", "update", SERVICE, "--iap")
    return SERVICE


def test_deploy_with_iap_sets_the_annotation_and_grants_the_agent_invoker(
    gcloud_stack: GcloudStack, iap_service: str
) -> None:
    described = json.loads(gcloud_stack.gcloud("run", "services", "describe", iap_service, "--format=json").stdout)
    policy = _bindings(gcloud_stack.gcloud("run", "services", "get-iam-policy", iap_service, "--format=json").stdout)
    assert described["metadata"]["annotations"][IAP_ANNOTATION] == "true"
    assert _agent(gcloud_stack) in policy["roles/run.invoker"]


def test_iap_web_bindings_are_iap_policy_not_the_service_policy(
    gcloud_stack: GcloudStack, iap_service: str, tmp_path: Path
) -> None:
    alice = _user(gcloud_stack, "alice@example.com", tmp_path)
    _iap_web(gcloud_stack, "add-iam-policy-binding", f"--member={alice}", f"--role={ACCESSOR}")
    iap_policy = _bindings(_iap_web(gcloud_stack, "get-iam-policy").stdout)
    run_policy = _bindings(
        gcloud_stack.gcloud("run", "services", "get-iam-policy", iap_service, "--format=json").stdout
    )
    assert iap_policy == {ACCESSOR: [alice]}
    assert ACCESSOR not in run_policy


def test_iap_web_remove_binding(gcloud_stack: GcloudStack, iap_service: str, tmp_path: Path) -> None:
    bob = _user(gcloud_stack, "bob@example.com", tmp_path)
    _iap_web(gcloud_stack, "add-iam-policy-binding", f"--member={bob}", f"--role={ACCESSOR}")
    _iap_web(gcloud_stack, "remove-iam-policy-binding", f"--member={bob}", f"--role={ACCESSOR}")
    assert bob not in _bindings(_iap_web(gcloud_stack, "get-iam-policy").stdout).get(ACCESSOR, [])


def test_iap_web_refuses_a_role_not_grantable_on_iap(gcloud_stack: GcloudStack, iap_service: str) -> None:
    done = _iap_web(
        gcloud_stack, "add-iam-policy-binding", "--member=allUsers", "--role=roles/run.invoker", check=False
    )
    assert done.returncode != 0
    assert "Role roles/run.invoker is not supported for this resource." in done.stderr


def test_iap_keys_are_published_as_google_publishes_them(gcloud_stack: GcloudStack) -> None:
    urls = httpx.get(f"{gcloud_stack.emulator_url}/admin/state").raise_for_status().json()["urls"]
    keys = httpx.get(urls["iap_jwks"]).raise_for_status().json()["keys"]
    assert urls["iap_jwks"] == f"{gcloud_stack.emulator_url}/iap/verify/public_key-jwk"
    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("EC", "P-256", "ES256")]


def test_no_iap_removes_the_annotation_and_the_agent_grant(gcloud_stack: GcloudStack, tmp_path: Path) -> None:
    gcloud_stack.deploy("iap-off", "--no-allow-unauthenticated")
    gcloud_stack.gcloud("beta", "run", "services", "update", "iap-off", "--iap")
    gcloud_stack.gcloud("beta", "run", "services", "update", "iap-off", "--no-iap")
    described = json.loads(gcloud_stack.gcloud("run", "services", "describe", "iap-off", "--format=json").stdout)
    policy = _bindings(gcloud_stack.gcloud("run", "services", "get-iam-policy", "iap-off", "--format=json").stdout)
    assert IAP_ANNOTATION not in described["metadata"]["annotations"]
    assert _agent(gcloud_stack) not in policy.get("roles/run.invoker", [])
