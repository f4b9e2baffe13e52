"""``cloudgate deploy --emulator`` and ``cloudgate audit`` with the real gcloud against the emulator.

One emulator and one deployed service per module (gcloud costs 1-2 s of CPU a call); the tests run in file
order and each leaves the service as the deploy made it. ``--source`` becomes a local-command revision (the
emulator has no Cloud Build) serving the protected test app.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account
from pwdlib import PasswordHash

from tests.e2e.gcloud_stack import GcloudStack
from tests.support import CLOUDGATE, ROOT, clean_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
    pytest.mark.timeout(900),  # a hang guard: the module's first deploy makes some 30 gcloud calls on a busy machine
]

#: Shaped like a GitHub personal access token, made up here (never valid).
GITHUB_TOKEN = "ghp_R8bYq2LxW5nT0vKc3ZpH7sJd9FgA4eMu1QoI"


@dataclass
class Deployed:
    stack: GcloudStack
    folder: Path
    url: str
    invoker: Path
    outsider: Path

    @property
    def invoker_member(self) -> str:
        return f"serviceAccount:invoker@{self.stack.project}.iam.gserviceaccount.com"

    def deploy(self, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [
            CLOUDGATE, "deploy", "--emulator", "--emulator-state-dir", str(self.stack.state_dir), "--service", "api",
            "--source", str(ROOT), "--app", "tests.e2e.slow_app:create_app", "--invoker", self.invoker_member,
            "--docs-users-file", "users.txt", "--keys-file", "keys.json", *extra,
        ]  # fmt: skip
        # No CLOUDSDK_* variables: --emulator finds the emulator and points gcloud at it by itself.
        return subprocess.run(
            argv,
            cwd=self.folder,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )

    def audit(self) -> subprocess.CompletedProcess[str]:
        env = clean_env(**self.stack.env)
        return subprocess.run([CLOUDGATE, "audit", "api"], env=env, capture_output=True, text=True, timeout=120)

    def token(self, key: Path) -> str:
        credentials = service_account.IDTokenCredentials.from_service_account_file(str(key), target_audience=self.url)
        credentials.refresh(google.auth.transport.requests.Request())
        return str(credentials.token)

    def get(self, path: str, key: Path | None = None, **kwargs: object) -> int:
        headers = {"X-Serverless-Authorization": f"Bearer {self.token(key)}"} if key else {}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs).status_code  # type: ignore[arg-type]


def _account_key(stack: GcloudStack, name: str, folder: Path) -> Path:
    key = folder / f"{name}-key.json"
    for args in (["create", name], ["key", name, "--out", str(key), "--emulator-url", stack.emulator_url]):
        argv = [CLOUDGATE, "emulator", "accounts", *args, "--state-dir", str(stack.state_dir)]
        subprocess.run(argv, env=clean_env(), check=True, capture_output=True, timeout=60)
    return key


def _write_users(folder: Path, password: str) -> None:
    (folder / "users.txt").write_text(f"alice:{PasswordHash.recommended().hash(password)}\n")


@pytest.fixture(scope="module")
def deployed(gcloud_stack: GcloudStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("deploy")
    _write_users(folder, "first-password")
    (folder / "keys.json").write_text('{"keys": []}\n')
    invoker, outsider = _account_key(gcloud_stack, "invoker", folder), _account_key(gcloud_stack, "outsider", folder)
    state = Deployed(gcloud_stack, folder, "", invoker, outsider)
    first = state.deploy()
    assert first.returncode == 0, first.stderr
    state.url = first.stdout.strip()
    state.first_run = first  # type: ignore[attr-defined]
    yield state


def test_a_deploy_from_clean_gives_a_private_service(deployed: Deployed) -> None:
    assert "[8/8] smoke test: GET /health: anonymous 40" in deployed.first_run.stderr  # type: ignore[attr-defined]
    assert deployed.get("/health", deployed.invoker) == 200
    assert deployed.get("/health", deployed.outsider) == 403
    assert deployed.get("/health") in (401, 403)  # Cloud Run: 403; the emulator answered 401 until issue 11


def test_a_plain_gcloud_identity_token_of_an_invoker_reaches_an_identity_route(
    deployed: Deployed, tmp_path: Path
) -> None:
    """Cloud Run accepts `gcloud auth print-identity-token` without --audiences (aud: gcloud's client id): so must the app."""
    env = {**deployed.stack.env, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    del env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"]  # the stack's deployer; this test is the invoker
    env = clean_env(**env)
    for args in (
        ["auth", "activate-service-account", f"--key-file={deployed.invoker}"],
        ["auth", "print-identity-token"],
    ):
        done = subprocess.run(["gcloud", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {done.stdout.strip()}"}
    response = httpx.get(f"{deployed.url}/whoami", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"email": deployed.invoker_member.removeprefix("serviceAccount:")}


def test_a_second_run_says_no_changes(deployed: Deployed) -> None:
    again = deployed.deploy()
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stderr and "  $ " not in again.stderr


def test_a_dry_run_reads_the_project_and_plans_only_what_differs(deployed: Deployed) -> None:
    unchanged = deployed.deploy("--dry-run")
    assert unchanged.returncode == 0, unchanged.stderr
    assert unchanged.stdout.splitlines()[-1] == "# no changes: the service already is what was asked"
    changed = deployed.deploy("--dry-run", "--memory", "1Gi")
    assert changed.returncode == 0, changed.stderr
    lines = changed.stdout.splitlines()
    planned = [line for line in lines if not line.startswith("#") and "services describe" not in line
               and "get-iam-policy" not in line]  # fmt: skip
    assert len(planned) == 1 and planned[0].startswith("gcloud run deploy api ") and "--memory=1Gi" in planned[0]


def test_made_public_with_plain_gcloud_is_caught_by_audit_and_by_the_next_deploy(deployed: Deployed) -> None:
    deployed.stack.gcloud(
        "run", "services", "add-iam-policy-binding", "api", "--member=allUsers", "--role=roles/run.invoker"
    )
    audit = deployed.audit()
    assert audit.returncode == 1 and audit.stdout.startswith(
        "SERIOUS  public-invoker: allUsers holds roles/run.invoker"
    )
    refused = deployed.deploy()
    assert refused.returncode == 1 and "refused: these members may invoke the service" in refused.stderr
    assert "allUsers" in refused.stderr and "Nothing was changed" in refused.stderr
    assert deployed.get("/health") == 200  # still public: the refusal changed nothing
    fixed = deployed.deploy("--yes")
    assert fixed.returncode == 0, fixed.stderr
    assert "remove-iam-policy-binding api" in fixed.stderr and deployed.get("/health") == 403
    assert deployed.audit().returncode == 0


def test_a_missing_binding_is_caught_and_restored(deployed: Deployed) -> None:
    deployed.stack.gcloud(
        "run", "services", "remove-iam-policy-binding", "api", f"--member={deployed.invoker_member}",
        "--role=roles/run.invoker",
    )  # fmt: skip
    assert deployed.get("/health", deployed.invoker) == 403
    again = deployed.deploy()
    assert again.returncode == 0, again.stderr
    assert "[5/8] invokers: 1 command(s)" in again.stderr and "[4/8] deploy: up to date" in again.stderr
    assert deployed.get("/health", deployed.invoker) == 200


def test_a_secret_set_by_hand_stops_the_next_deploy_and_is_never_printed(deployed: Deployed) -> None:
    """A literal secret added with plain gcloud: the next deploy and its dry run refuse (nothing changed) and name
    the variable, never the value; once removed with the printed fix, the deploy runs again."""
    deployed.stack.gcloud("run", "services", "update", "api", f"--update-env-vars=TOKEN={GITHUB_TOKEN}")
    for extra in ((), ("--dry-run",)):
        refused = deployed.deploy(*extra)
        printed = refused.stdout + refused.stderr
        assert refused.returncode == 1, printed
        assert "SERIOUS  literal-secret: env var TOKEN of container #1 holds GitHub Token in plain text" in printed
        assert "Nothing was changed" in printed and "  $ " not in printed
        assert GITHUB_TOKEN not in printed
    [fix] = [line.split("fix: ", 1)[1] for line in refused.stderr.splitlines() if "fix: " in line]
    deployed.stack.gcloud("--quiet", *shlex.split(fix)[1:])
    again = deployed.deploy()
    assert again.returncode == 0, again.stderr
    assert GITHUB_TOKEN not in again.stdout + again.stderr


def test_traffic_pinned_to_an_older_revision_by_hand_goes_back_to_the_latest(deployed: Deployed) -> None:
    """A rollback by hand (update-traffic --to-revisions): gcloud run deploy would keep the pin; the deploy does not."""
    oldest = deployed.stack.gcloud(
        "run", "revisions", "list", "--service=api", "--sort-by=metadata.creationTimestamp", "--limit=1",
        "--format=value(metadata.name)",
    ).stdout.strip()  # fmt: skip
    deployed.stack.gcloud("run", "services", "update-traffic", "api", f"--to-revisions={oldest}=100")
    again = deployed.deploy()
    assert again.returncode == 0, again.stderr
    ran = [line for line in again.stderr.splitlines() if line.startswith("  $ ")]
    where = f"--project={deployed.stack.project} --region={deployed.stack.env['CLOUDSDK_RUN_REGION']}"
    assert ran == [f"  $ gcloud run services update-traffic api {where} --to-latest --quiet"]
    described = deployed.stack.gcloud("run", "services", "describe", "api", "--format=json(spec.traffic)").stdout
    assert json.loads(described)["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


def test_a_rotated_docs_password_reaches_the_service_without_a_redeploy(deployed: Deployed) -> None:
    assert deployed.get("/docs", deployed.invoker, auth=("alice", "first-password")) == 200
    _write_users(deployed.folder, "second-password")
    rotated = deployed.deploy()
    assert rotated.returncode == 0, rotated.stderr
    ran = [line for line in rotated.stderr.splitlines() if line.startswith("  $ ")]
    assert ran == [
        f"  $ gcloud secrets versions add api-docs-users --project={deployed.stack.project} --data-file=users.txt --quiet"
    ]
    deadline = time.monotonic() + 30  # the mounted file changes when the version is added; wait on the answer
    while deployed.get("/docs", deployed.invoker, auth=("alice", "second-password")) != 200:
        assert time.monotonic() < deadline, "the new password never reached the running service"
    assert deployed.get("/docs", deployed.invoker, auth=("alice", "first-password")) == 401


def test_a_failed_step_says_what_failed_what_was_done_and_how_to_resume(deployed: Deployed) -> None:
    argv = [
        CLOUDGATE, "deploy", "--emulator", "--emulator-state-dir", str(deployed.stack.state_dir), "--service", "broken",
        "--source", str(ROOT), "--app", "tests.e2e.no_such_module:create_app", "--invoker", deployed.invoker_member,
    ]  # fmt: skip
    failed = subprocess.run(argv, cwd=deployed.folder, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1
    error = failed.stderr[failed.stderr.index("error: ") :]
    assert error.startswith("error: step 4/8 (deploy) failed: ")
    assert "\n  done by this run: step 1 (runtime service account)\n" in error
    assert error.rstrip().endswith(
        "to resume, run the same `cloudgate deploy` command again: steps already done are skipped"
    )


# IAP directly on the service (issue 23). These tests run last, in this order: the first turns IAP on for `api`.

IAP_ACCESSOR = "roles/iap.httpsResourceAccessor"


def _iap_token(deployed: Deployed, key: Path) -> str:
    """An ID token for IAP's OAuth client, as a programmatic IAP caller sends it (docs/emulator.md)."""
    number = httpx.get(f"{deployed.stack.emulator_url}/admin/state", timeout=30).json()["project_number"]
    credentials = service_account.IDTokenCredentials.from_service_account_file(
        str(key), target_audience=f"{number}-cloudgate-iap.apps.googleusercontent.com"
    )
    credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)


def _deploy_with_iap(deployed: Deployed) -> subprocess.CompletedProcess[str]:
    email = deployed.invoker_member.removeprefix("serviceAccount:")
    return deployed.deploy(
        "--iap", "--iap-member", deployed.invoker_member,
        "--env", "CLOUDGATE_DOCS_AUTH=iap", "--env", f"CLOUDGATE_DOCS_IAP_USERS={email}",
    )  # fmt: skip


def test_iap_deploy_runs_beta_deploy_and_grants_only_the_named_accessor(deployed: Deployed) -> None:
    done = _deploy_with_iap(deployed)
    assert done.returncode == 0, done.stderr
    ran = [line.removeprefix("  $ ") for line in done.stderr.splitlines() if line.startswith("  $ ")]
    region = deployed.stack.env["CLOUDSDK_RUN_REGION"]
    iap_where = f"--resource-type=cloud-run --service=api --project={deployed.stack.project} --region={region}"
    assert ran[0].startswith("gcloud beta run deploy api ") and ran[0].endswith(" --iap --quiet")
    assert ran[1:] == [
        f"gcloud beta iap web add-iam-policy-binding {iap_where} --member={deployed.invoker_member} "
        f"--role={IAP_ACCESSOR} --quiet"
    ]
    assert f"IAP on, may pass: {deployed.invoker_member}" in done.stderr


def test_iap_a_named_member_opens_the_docs_through_iap(deployed: Deployed) -> None:
    headers = {"Proxy-Authorization": f"Bearer {_iap_token(deployed, deployed.invoker)}"}
    response = httpx.get(f"{deployed.url}/docs", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert "swagger-ui" in response.text


def test_iap_someone_not_named_is_refused_by_iap(deployed: Deployed) -> None:
    headers = {"Proxy-Authorization": f"Bearer {_iap_token(deployed, deployed.outsider)}"}
    assert httpx.get(f"{deployed.url}/docs", headers=headers, timeout=30).status_code == 403


def test_iap_audit_reports_iap_on_and_who_may_pass(deployed: Deployed) -> None:
    done = deployed.audit()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IAP is on" in done.stdout
    assert f"who may pass IAP ({IAP_ACCESSOR}): {deployed.invoker_member}" in done.stdout


def test_iap_a_second_iap_run_says_no_changes(deployed: Deployed) -> None:
    again = _deploy_with_iap(deployed)
    assert again.returncode == 0, again.stderr
    assert "no changes: the service already is what was asked" in again.stderr


def test_iap_a_deploy_without_iap_turns_it_off(deployed: Deployed) -> None:
    done = deployed.deploy()
    assert done.returncode == 0, done.stderr
    ran = [line.removeprefix("  $ ") for line in done.stderr.splitlines() if line.startswith("  $ ")]
    assert ran[0].startswith("gcloud beta run deploy api ") and ran[0].endswith(" --no-iap --quiet")
    described = json.loads(deployed.stack.gcloud("run", "services", "describe", "api", "--format=json").stdout)
    assert "run.googleapis.com/iap-enabled" not in described["metadata"]["annotations"]
    assert deployed.get("/health", deployed.invoker) == 200
