"""IAM as Google evaluates it, with the real gcloud and the real google-auth against the emulator.

Each test is one of issue 20's "Done when" behaviours: inherited invoker, Owner, ``group:`` and ``domain:``
members, ``run.developer`` unable to change a policy, actAs on deploy, deleted accounts, project policies through
Resource Manager, the propagation delay, and google-auth's impersonation through the emulator's HTTPS proxy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.auth import impersonated_credentials
from google.oauth2 import id_token, service_account

from tests.e2e.gcloud_stack import LOCAL_COMMAND_IMAGE, GcloudStack
from tests.support import clean_env

pytestmark = pytest.mark.e2e

PRIVATE = "private"
ECHO_MODULE = "cloudgate.emulator.serving.echo"


def _id_token(key_file: Path, audience: str) -> str:
    credentials = service_account.IDTokenCredentials.from_service_account_file(str(key_file), target_audience=audience)
    credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)


def _user_token(stack: GcloudStack, email: str, folder: Path, *groups: str) -> str:
    """A directory user's ID token, as `gcloud auth print-identity-token` prints it for that user."""
    creds = folder / f"{email}.json"
    stack.cloudgate(
        "users", "create", email, "--out", str(creds), "--emulator-url", stack.emulator_url,
        *[f"--group={g}" for g in groups],
    )  # fmt: skip
    env = {**stack.env, "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(creds)}
    done = subprocess.run(
        ["gcloud", "auth", "print-identity-token"], env=clean_env(**env), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _deploy_args(name: str, *flags: str) -> list[str]:
    """``gcloud run deploy NAME`` of the echo service as a local-command revision (as ``GcloudStack.deploy``)."""
    command = (f"--image={LOCAL_COMMAND_IMAGE}", f"--command={sys.executable}", f"--args=-m,{ECHO_MODULE}")
    return ["run", "deploy", name, *command, *flags]


def _get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{url}/echo", headers=headers, timeout=30).status_code


@pytest.fixture(scope="module")
def private_url(gcloud_stack: GcloudStack) -> str:
    return gcloud_stack.deploy(PRIVATE, "--no-allow-unauthenticated")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("iam-keys")


def test_a_project_level_invoker_invokes_the_service(gcloud_stack: GcloudStack, private_url: str, keys: Path) -> None:
    email, key = gcloud_stack.account("project-invoker", keys)
    token = _id_token(key, private_url)
    assert _get(private_url, token) == 403
    project = gcloud_stack.project
    gcloud_stack.gcloud(
        "projects", "add-iam-policy-binding", project, f"--member=serviceAccount:{email}", "--role=roles/run.invoker"
    )
    assert _get(private_url, token) == 200


def test_the_project_owner_invokes_its_own_service(gcloud_stack: GcloudStack, private_url: str) -> None:
    token = gcloud_stack.gcloud("auth", "print-identity-token").stdout.strip()
    assert _get(private_url, token) == 200


def test_a_group_binding_admits_members_only(gcloud_stack: GcloudStack, keys: Path) -> None:
    url = gcloud_stack.deploy("for-group", "--no-allow-unauthenticated")
    alice = _user_token(gcloud_stack, "alice@example.com", keys, "devs@example.com")  # the group exists from here
    member = "--member=group:devs@example.com"
    gcloud_stack.gcloud("run", "services", "add-iam-policy-binding", "for-group", member, "--role=roles/run.invoker")
    assert _get(url, alice) == 200
    assert _get(url, _user_token(gcloud_stack, "mallory@example.com", keys)) == 403


def test_a_user_or_group_the_directory_does_not_hold_cannot_be_bound(gcloud_stack: GcloudStack) -> None:
    """Google refuses a member that is no Google account or group; the emulated directory is the emulator's world."""
    for member, words in (("user:nobody@example.com", "User"), ("group:nothing@example.com", "Group")):
        done = gcloud_stack.gcloud(
            "projects", "add-iam-policy-binding", gcloud_stack.project, f"--member={member}",
            "--role=roles/run.invoker", check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert f"INVALID_ARGUMENT: {words} {member.partition(':')[2]} does not exist." in done.stderr


def test_a_domain_binding_admits_accounts_of_that_domain_only(gcloud_stack: GcloudStack, keys: Path) -> None:
    url = gcloud_stack.deploy("for-domain", "--no-allow-unauthenticated")
    member = "--member=domain:example.net"
    gcloud_stack.gcloud("run", "services", "add-iam-policy-binding", "for-domain", member, "--role=roles/run.invoker")
    assert _get(url, _user_token(gcloud_stack, "carol@example.net", keys)) == 200
    assert _get(url, _user_token(gcloud_stack, "dave@example.org", keys)) == 403


def test_a_run_developer_cannot_make_a_service_public(gcloud_stack: GcloudStack, keys: Path) -> None:
    """gcloud deploys, warns that the policy could not be set, and the service stays private (as on Google)."""
    email, key = gcloud_stack.account("developer", keys)
    for role in ("roles/run.developer", "roles/iam.serviceAccountUser"):
        gcloud_stack.gcloud("projects", "add-iam-policy-binding", gcloud_stack.project, f"--member=serviceAccount:{email}", f"--role={role}")  # fmt: skip
    as_developer = GcloudStack(
        emulator_url=gcloud_stack.emulator_url,
        state_dir=gcloud_stack.state_dir,
        env={**gcloud_stack.env, "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(key)},
    )
    as_developer.deploy("by-developer", "--allow-unauthenticated")
    assert _get(gcloud_stack.url_of("by-developer")) == 403
    done = as_developer.gcloud(
        "run", "services", "add-iam-policy-binding", "by-developer", "--member=allUsers", "--role=roles/run.invoker",
        check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "run.services.setIamPolicy" in done.stderr


def test_deploying_as_an_account_that_does_not_exist_is_refused(gcloud_stack: GcloudStack) -> None:
    ghost = f"ghost@{gcloud_stack.project}.iam.gserviceaccount.com"
    done = gcloud_stack.gcloud(*_deploy_args("haunted", f"--service-account={ghost}"), check=False)
    assert done.returncode != 0
    assert f"Permission 'iam.serviceaccounts.actAs' denied on service account {ghost} (or it may not exist)" in (
        done.stderr
    )


def test_deploying_without_act_as_on_the_runtime_account_is_refused(gcloud_stack: GcloudStack, keys: Path) -> None:
    email, key = gcloud_stack.account("no-act-as", keys)
    runtime, _ = gcloud_stack.account("runtime", keys)
    gcloud_stack.gcloud("projects", "add-iam-policy-binding", gcloud_stack.project, f"--member=serviceAccount:{email}", "--role=roles/run.developer")  # fmt: skip
    env = {**gcloud_stack.env, "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(key)}
    done = subprocess.run(
        ["gcloud", *_deploy_args("as-runtime", f"--service-account={runtime}")],
        env=clean_env(**env), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"Permission 'iam.serviceaccounts.actAs' denied on service account {runtime}" in done.stderr


def test_a_deleted_accounts_token_is_refused_and_its_successor_has_no_grants(
    gcloud_stack: GcloudStack, private_url: str, keys: Path
) -> None:
    email, key = gcloud_stack.account("doomed", keys)
    member = f"--member=serviceAccount:{email}"
    gcloud_stack.gcloud("run", "services", "add-iam-policy-binding", PRIVATE, member, "--role=roles/run.invoker")
    token = _id_token(key, private_url)
    assert _get(private_url, token) == 200
    gcloud_stack.gcloud("iam", "service-accounts", "delete", email, "--quiet")
    assert _get(private_url, token) == 403
    policy = json.loads(gcloud_stack.gcloud("run", "services", "get-iam-policy", PRIVATE, "--format=json").stdout)
    members = [m for b in policy["bindings"] for m in b["members"]]
    assert any(m.startswith(f"deleted:serviceAccount:{email}?uid=") for m in members)
    _, successor = gcloud_stack.account("doomed", keys)
    assert _get(private_url, _id_token(successor, private_url)) == 403


def test_project_bindings_are_added_and_removed_with_gcloud(gcloud_stack: GcloudStack, keys: Path) -> None:
    email, _ = gcloud_stack.account("project-viewer", keys)
    binding = (f"--member=serviceAccount:{email}", "--role=roles/viewer")
    project = gcloud_stack.project

    def bound() -> bool:
        policy = json.loads(gcloud_stack.gcloud("projects", "get-iam-policy", project, "--format=json").stdout)
        return any(
            b["role"] == "roles/viewer" and f"serviceAccount:{email}" in b["members"] for b in policy["bindings"]
        )

    gcloud_stack.gcloud("projects", "add-iam-policy-binding", project, *binding)
    assert bound()
    gcloud_stack.gcloud("projects", "remove-iam-policy-binding", project, *binding)
    assert not bound()


@pytest.fixture
def propagation(gcloud_stack: GcloudStack) -> Iterator[float]:
    gcloud_stack.cloudgate("settings", "--iam-propagation-seconds", "5")
    yield 5.0
    gcloud_stack.cloudgate("settings", "--iam-propagation-seconds", "0")


def test_a_grant_applies_after_the_propagation_delay(
    gcloud_stack: GcloudStack, private_url: str, keys: Path, propagation: float
) -> None:
    email, key = gcloud_stack.account("late-invoker", keys)
    token = _id_token(key, private_url)
    granted_at = time.monotonic()
    gcloud_stack.cloudgate("services", "grant", PRIVATE, f"serviceAccount:{email}")
    assert _get(private_url, token) == 403
    deadline = granted_at + propagation + 30
    while _get(private_url, token) != 200:
        assert time.monotonic() < deadline, "the grant never applied"
        time.sleep(0.2)
    assert time.monotonic() - granted_at >= propagation


def test_impersonated_id_token_credentials_work_through_the_https_proxy(
    gcloud_stack: GcloudStack, private_url: str, keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth calls https://iamcredentials.googleapis.com itself: the proxy and CA make that the emulator."""
    source, source_key = gcloud_stack.account("impersonator", keys)
    target, _ = gcloud_stack.account("impersonated", keys)
    gcloud_stack.cloudgate("accounts", "grant", target, f"serviceAccount:{source}")
    gcloud_stack.cloudgate("services", "grant", PRIVATE, f"serviceAccount:{target}")
    for name in ("HTTPS_PROXY", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(name, gcloud_stack.env[name])
    source_credentials = service_account.Credentials.from_service_account_file(
        str(source_key), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    target_credentials = impersonated_credentials.Credentials(
        source_credentials, target_principal=target, target_scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials = impersonated_credentials.IDTokenCredentials(
        target_credentials, target_audience=private_url, include_email=True
    )
    credentials.refresh(google.auth.transport.requests.Request())
    assert _get(private_url, str(credentials.token)) == 200


def test_fetch_id_token_with_an_impersonation_adc_file_works_through_the_https_proxy(
    gcloud_stack: GcloudStack, private_url: str, keys: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``id_token.fetch_id_token`` as user code calls it, with ADC naming an impersonated service account."""
    source, source_key = gcloud_stack.account("adc-source", keys)
    target, _ = gcloud_stack.account("adc-target", keys)
    gcloud_stack.cloudgate("accounts", "grant", target, f"serviceAccount:{source}")
    gcloud_stack.cloudgate("services", "grant", PRIVATE, f"serviceAccount:{target}")
    adc = tmp_path / "adc.json"
    impersonation = f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{target}:generateAccessToken"
    adc.write_text(
        json.dumps(
            {
                "type": "impersonated_service_account",
                "service_account_impersonation_url": impersonation,
                "source_credentials": json.loads(source_key.read_text()),
                "delegates": [],
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    for name in ("HTTPS_PROXY", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(name, gcloud_stack.env[name])
    token = id_token.fetch_id_token(google.auth.transport.requests.Request(), private_url)
    assert _get(private_url, token) == 200
