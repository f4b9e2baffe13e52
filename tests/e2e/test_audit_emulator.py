"""``cloudgate audit`` against misconfigurations made with the real gcloud on the emulator (throwaway config).

Each test makes one misconfiguration on a service of its own (project-level ones with ``gcloud projects
add-iam-policy-binding``) and asserts the exit code and the finding code; where a fix is printed, it is run as
printed with gcloud and the audit passes afterwards. Project-level grants name principals that no other test's
verdict depends on, or are removed by the test that made them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from tests.e2e.gcloud_stack import LOCAL_COMMAND_IMAGE, GcloudStack
from tests.support import CLOUDGATE, clean_env
from tests.unit.deploy.test_sarif import sarif_schema

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]

# Shaped like real keys, made up here (none was ever valid).
STRIPE = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdEFGH"
OPENAI = "sk-proj-Xq3vN8rT2mK9pL4wZ7yB1cD5T3BlbkFJhG6jF0sA8eR2tY9uI4oP7lKm"
DATABASE_URL = "postgres://app:hunter2@db.internal:5432/app"
#: A sidecar's image: the emulator runs only the ingress container (the one with a port), as a local command.
SIDECAR_IMAGE = "us-docker.pkg.dev/cloudrun/container/otel-collector"


def account(stack: GcloudStack, name: str) -> str:
    """A service account made with gcloud; its email."""
    stack.gcloud("iam", "service-accounts", "create", name)
    return f"{name}@{stack.project}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def runtime(gcloud_stack: GcloudStack) -> str:
    """A dedicated runtime account with no project roles."""
    return account(gcloud_stack, "audit-runtime")


def deploy(stack: GcloudStack, name: str, runtime: str | None, *flags: str) -> None:
    """``gcloud run deploy NAME`` of the echo service, private, as ``runtime`` (``None``: Cloud Run's default)."""
    identity = (f"--service-account={runtime}",) if runtime else ()
    stack.gcloud(
        "run", "deploy", name, f"--image={LOCAL_COMMAND_IMAGE}", f"--command={sys.executable}",
        "--args=-m,cloudgate.emulator.serving.echo", "--no-allow-unauthenticated", *identity, *flags,
    )  # fmt: skip


def audit(stack: GcloudStack, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """``cloudgate audit ARGS --format json``: exit code, findings, and everything it printed."""
    argv = [CLOUDGATE, "audit", *args, "--format", "json"]
    done = subprocess.run(argv, env=clean_env(**stack.env), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    findings = json.loads(done.stdout)["findings"] if done.stdout.strip() else []
    return done.returncode, findings, done.stdout + done.stderr


def codes(findings: list[dict[str, Any]]) -> list[str]:
    return [f"{f['severity']}:{f['code']}" for f in findings]


def run_fix(stack: GcloudStack, findings: list[dict[str, Any]], code: str) -> None:
    """Run the fix the audit printed for ``code``, exactly as printed, with the real gcloud."""
    [fix] = [f["fix"] for f in findings if f["code"] == code]
    argv = shlex.split(fix)
    assert argv[0] == "gcloud"
    stack.gcloud("--quiet", *argv[1:])  # first: after --container=NAME, gcloud reads flags as that container's


def deployed_with_invoker(stack: GcloudStack, name: str, runtime: str, member: str) -> None:
    """``deploy`` NAME, then ``gcloud run services add-iam-policy-binding`` of ``member`` as an invoker."""
    deploy(stack, name, runtime)
    stack.gcloud(
        "run", "services", "add-iam-policy-binding", name, f"--member={member}", "--role=roles/run.invoker"
    )  # fmt: skip


def grant_on_project(stack: GcloudStack, member: str, role: str) -> None:
    stack.gcloud("projects", "add-iam-policy-binding", stack.project, f"--member={member}", f"--role={role}")


def test_a_private_service_with_names_that_only_look_like_secrets_passes(
    gcloud_stack: GcloudStack, runtime: str
) -> None:
    env = "OAUTH_TOKEN_URL=https://oauth2.googleapis.com/token,PASSWORD_MIN_LENGTH=12,SECRET_NAME=api-docs-users"
    deploy(gcloud_stack, "plain", runtime, f"--set-env-vars={env}")
    code, findings, printed = audit(gcloud_stack, "plain")
    assert code == 0, printed
    assert not any(f["code"] == "literal-secret" for f in findings)


def test_literal_secrets_in_env_are_found_by_value(gcloud_stack: GcloudStack, runtime: str) -> None:
    env = f"^|^API_KEY={STRIPE}|OPENAI_API_KEY={OPENAI}|DATABASE_URL={DATABASE_URL}"
    deploy(gcloud_stack, "leaky", runtime, f"--set-env-vars={env}")
    code, findings, printed = audit(gcloud_stack, "leaky")
    assert code == 1
    secrets = sorted(f["message"].split()[2] for f in findings if f["code"] == "literal-secret")
    assert secrets == ["API_KEY", "DATABASE_URL", "OPENAI_API_KEY"]
    assert STRIPE not in printed and OPENAI not in printed and "hunter2" not in printed


def test_a_literal_secret_in_a_sidecar_container_is_serious(gcloud_stack: GcloudStack, runtime: str) -> None:
    """A multi-container service made with plain gcloud: the secret in the second container is found and named."""
    gcloud_stack.gcloud(
        "run", "deploy", "with-sidecar", "--no-allow-unauthenticated", f"--service-account={runtime}",
        "--container=app", f"--image={LOCAL_COMMAND_IMAGE}", f"--command={sys.executable}",
        "--args=-m,cloudgate.emulator.serving.echo", "--port=8080",
        "--container=sidecar", f"--image={SIDECAR_IMAGE}", f"--set-env-vars=COLLECTOR_KEY={STRIPE},LOG_LEVEL=info",
    )  # fmt: skip
    code, findings, printed = audit(gcloud_stack, "with-sidecar")
    assert code == 1
    [secret] = [f for f in findings if f["code"] == "literal-secret"]
    assert secret["severity"] == "serious"
    assert secret["message"].startswith("env var COLLECTOR_KEY of container sidecar holds ")
    assert STRIPE not in printed
    run_fix(gcloud_stack, findings, "literal-secret")  # --container=sidecar --remove-env-vars=COLLECTOR_KEY
    assert audit(gcloud_stack, "with-sidecar")[0] == 0


def test_a_secret_removed_but_rolled_back_to_is_serious(gcloud_stack: GcloudStack, runtime: str) -> None:
    """The secret is gone from the latest revision, but a rollback by hand sends the traffic to the one holding it."""
    deploy(gcloud_stack, "rolled-back", runtime, f"--set-env-vars=API_KEY={STRIPE}")
    leaky = gcloud_stack.gcloud(
        "run", "services", "describe", "rolled-back", "--format=value(status.latestReadyRevisionName)"
    ).stdout.strip()  # fmt: skip
    gcloud_stack.gcloud("run", "services", "update", "rolled-back", "--remove-env-vars=API_KEY")
    gcloud_stack.gcloud("run", "services", "update-traffic", "rolled-back", f"--to-revisions={leaky}=100")
    code, findings, printed = audit(gcloud_stack, "rolled-back")
    assert code == 1 and "serious:older-revision-secret" in codes(findings)
    assert "literal-secret" not in printed and STRIPE not in printed
    run_fix(gcloud_stack, findings, "older-revision-secret")  # update-traffic --to-latest
    assert audit(gcloud_stack, "rolled-back")[0] == 0


def test_a_domain_invoker_is_serious(gcloud_stack: GcloudStack, runtime: str) -> None:
    deployed_with_invoker(gcloud_stack, "company-wide", runtime, "domain:example.com")
    code, findings, _ = audit(gcloud_stack, "company-wide")
    assert code == 1 and "serious:domain-invoker" in codes(findings)
    run_fix(gcloud_stack, findings, "domain-invoker")
    assert audit(gcloud_stack, "company-wide")[0] == 0


def test_a_group_invoker_is_a_warning(gcloud_stack: GcloudStack, runtime: str) -> None:
    # A group must exist to be bound, as on Google: an account of the emulated directory joins it.
    subprocess.run(
        [CLOUDGATE, "emulator", "accounts", "create", "ops-bot", "--group", "ops@example.com",
         "--state-dir", str(gcloud_stack.state_dir)],
        env=clean_env(), capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    deployed_with_invoker(gcloud_stack, "team", runtime, "group:ops@example.com")
    code, findings, printed = audit(gcloud_stack, "team")
    assert code == 0, printed
    assert "warning:group-invoker" in codes(findings)


def test_the_iam_check_turned_off_is_serious_and_ingress_says_so(gcloud_stack: GcloudStack, runtime: str) -> None:
    deploy(gcloud_stack, "unchecked", runtime)
    gcloud_stack.gcloud("run", "services", "update", "unchecked", "--no-invoker-iam-check")
    code, findings, _ = audit(gcloud_stack, "unchecked")
    assert code == 1 and "serious:iam-check-off" in codes(findings)
    [ingress] = [f["message"] for f in findings if f["code"] == "ingress"]
    assert ingress.endswith("with no IAM check: anyone")
    run_fix(gcloud_stack, findings, "iam-check-off")
    assert audit(gcloud_stack, "unchecked")[0] == 0


def test_the_default_runtime_account_is_serious(gcloud_stack: GcloudStack) -> None:
    deploy(gcloud_stack, "defaulted", None)
    code, findings, _ = audit(gcloud_stack, "defaulted")
    assert code == 1 and "serious:default-account" in codes(findings)


def test_a_runtime_account_that_can_mint_tokens_is_serious(gcloud_stack: GcloudStack) -> None:
    minter = account(gcloud_stack, "minter")
    grant_on_project(gcloud_stack, f"serviceAccount:{minter}", "roles/iam.serviceAccountTokenCreator")
    deploy(gcloud_stack, "minting", minter)
    code, findings, _ = audit(gcloud_stack, "minting")
    assert code == 1
    [finding] = [f for f in findings if f["code"] == "privileged-account"]
    assert "mint tokens or keys for other service accounts" in finding["message"]
    run_fix(gcloud_stack, findings, "privileged-account")
    assert audit(gcloud_stack, "minting")[0] == 0


@pytest.mark.parametrize("role", ["roles/run.invoker", "roles/editor"])
def test_a_project_level_invoker_is_reported_by_inheritance(gcloud_stack: GcloudStack, runtime: str, role: str) -> None:
    member = "serviceAccount:" + account(gcloud_stack, "batch-job" if role == "roles/run.invoker" else "builder")
    grant_on_project(gcloud_stack, member, role)
    code, findings, printed = audit(gcloud_stack, "plain")
    assert code == 0, printed
    assert any(member in f["message"] and role in f["message"] for f in findings if f["code"] == "inherited-invoker")


def test_a_domain_with_a_project_role_invokes_every_service(gcloud_stack: GcloudStack, runtime: str) -> None:
    deploy(gcloud_stack, "inherits", runtime)
    grant_on_project(gcloud_stack, "domain:example.com", "roles/run.invoker")
    code, findings, _ = audit(gcloud_stack, "inherits")
    assert code == 1 and "serious:domain-invoker" in codes(findings)
    run_fix(gcloud_stack, findings, "domain-invoker")  # gcloud projects remove-iam-policy-binding
    assert audit(gcloud_stack, "inherits")[0] == 0


def test_audit_all_in_sarif_covers_every_region_with_one_exit_code(gcloud_stack: GcloudStack, runtime: str) -> None:
    deploy(gcloud_stack, "here", runtime)  # passes on its own
    deploy(gcloud_stack, "elsewhere", None, "--region=europe-west1")  # the default account: serious
    argv = [CLOUDGATE, "audit", "--all", "--format", "sarif"]
    done = subprocess.run(argv, env=clean_env(**gcloud_stack.env), capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    log = json.loads(done.stdout)
    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    located = {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for r in log["runs"][0]["results"]
    }
    where = f"projects/{gcloud_stack.project}/locations"
    assert ("default-account", f"{where}/europe-west1/services/elsewhere") in located
    assert ("ingress", f"{where}/{gcloud_stack.env['CLOUDSDK_RUN_REGION']}/services/here") in located
