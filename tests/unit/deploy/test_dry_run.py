"""``cloudgate deploy --dry-run``: the exact gcloud commands, line by line, as the console script runs it (in-process).

Like datasette's ``publish cloudrun`` tests, the argv is the contract: Cloud Build and Artifact Registry cannot
run here, so their commands are checked exactly. No gcloud is on the PATH here, so the dry run cannot observe the
project: it says so and plans against a project where nothing exists (what it plans against an observed project
is tested on ``plan.steps`` and, with the real gcloud, in tests/e2e/test_deploy_emulator.py).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cloudgate.deploy.source import source_tag
from tests.cli import run_cloudgate

SA = "api-runtime@my-proj.iam.gserviceaccount.com"
WHERE = "--project=my-proj --region=europe-west1"
ETL = "serviceAccount:etl@my-proj.iam.gserviceaccount.com"


def dry_run(cwd: Path, *args: str) -> list[str]:
    argv = ["deploy", "--service", "api", "--project", "my-proj", "--region", "europe-west1", *args, "--dry-run"]
    done = run_cloudgate(*argv, cwd=cwd, env={"PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "warning: could not read the project (gcloud is not installed" in done.stderr
    return done.stdout.splitlines()


def test_image_with_secrets_and_invokers(files: Path) -> None:
    image = "europe-docker.pkg.dev/my-proj/apps/api:1"
    lines = dry_run(
        files, "--image", image, "--invoker", ETL, "--invoker", "user:me@example.com",
        "--docs-users-file", "users.txt", "--keys-file", "keys.json",
    )  # fmt: skip
    add_version = "gcloud secrets versions add {0} --project=my-proj --data-file={1} --quiet"
    accessor = (
        f"gcloud secrets add-iam-policy-binding {{0}} --project=my-proj --member=serviceAccount:{SA} "
        "--role=roles/secretmanager.secretAccessor --quiet"
    )
    assert lines == [
        "# [1/8] runtime service account",
        "gcloud iam service-accounts create api-runtime --project=my-proj '--display-name=Cloud Run runtime of api' --quiet",
        "# [2/8] secrets",
        "gcloud secrets create api-docs-users --project=my-proj --replication-policy=automatic --quiet",
        add_version.format("api-docs-users", "users.txt"),
        accessor.format("api-docs-users"),
        "gcloud secrets create api-api-keys --project=my-proj --replication-policy=automatic --quiet",
        add_version.format("api-api-keys", "keys.json"),
        accessor.format("api-api-keys"),
        "# [3/8] image",
        f"# using --image {image}",
        "# [4/8] deploy",
        f"gcloud run deploy api {WHERE} --image={image} --no-allow-unauthenticated --invoker-iam-check "
        f"--service-account={SA} --set-env-vars=CLOUDGATE_IDENTITY=cloud-run,"
        "CLOUDGATE_DOCS_USERS_FILE=/secrets/docs-users/users,CLOUDGATE_KEYSTORE=file:///secrets/api-keys/keys.json "
        "--set-secrets=/secrets/docs-users/users=api-docs-users:latest,/secrets/api-keys/keys.json=api-api-keys:latest "
        "--no-use-http2 --quiet",
        "# [5/8] invokers",
        f"gcloud run services add-iam-policy-binding api {WHERE} --member={ETL} --role=roles/run.invoker --quiet",
        f"gcloud run services add-iam-policy-binding api {WHERE} --member=user:me@example.com --role=roles/run.invoker --quiet",
        "# [6/8] IAP access",
        "# no changes",
        "# [7/8] read back",
        "# cloudgate checks these; gcloud's exit codes are not proof",
        f"gcloud run services describe api {WHERE} --format=json --quiet",
        f"gcloud run services get-iam-policy api {WHERE} --format=json --quiet",
        "# [8/8] smoke test",
        "# GET <service URL>/health with an invoker's ID token (200), without (403)",
    ]


def test_cloud_build_from_source(files: Path) -> None:
    (files / "Dockerfile").write_text("FROM python:3.12-slim\n")
    lines = dry_run(files, "--source", ".", "--invoker", ETL)
    image = f"europe-west1-docker.pkg.dev/my-proj/cloudgate/api:{source_tag(files)}"
    step3 = lines[lines.index("# [3/8] image") + 1 : lines.index("# [4/8] deploy")]
    assert step3 == [
        "gcloud artifacts repositories create cloudgate --project=my-proj --location=europe-west1 "
        "--repository-format=docker --quiet",
        f"gcloud builds submit . --project=my-proj --tag={image} --quiet",
    ]
    assert f"--image={image}" in shlex.split(lines[lines.index("# [4/8] deploy") + 1])


def test_local_build_pushes_with_the_token_on_a_pipe_not_on_argv(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (files / "Dockerfile").write_text("FROM python:3.12-slim\n")
    tools = files / "bin"
    tools.mkdir()
    (tools / "podman").symlink_to("/bin/true")  # --local-build picks the first of buildah, podman, docker on PATH
    argv = ["deploy", "--service", "api", "--project", "my-proj", "--region", "europe-west1"]
    done = run_cloudgate(*argv, "--source", ".", "--local-build", "--dry-run", cwd=files, env={"PATH": str(tools)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    image = f"europe-west1-docker.pkg.dev/my-proj/cloudgate/api:{source_tag(files)}"
    step3 = lines[lines.index("# [3/8] image") + 2 : lines.index("# [4/8] deploy")]
    assert step3 == [
        f"podman build --tag={image} .",
        "gcloud auth print-access-token --quiet | podman login --username=oauth2accesstoken --password-stdin "
        "europe-west1-docker.pkg.dev",
        f"podman push {image}",
    ]


def test_runtime_options_become_gcloud_flags(files: Path) -> None:
    lines = dry_run(
        files, "--image", "img:1", "--service-account", "runner", "--memory", "1Gi", "--cpu", "2",
        "--concurrency", "40", "--min-instances", "1", "--max-instances", "5", "--timeout", "600", "--http2",
        "--custom-audience", "https://api.example.com", "--env", "MODE=a,b",
    )  # fmt: skip
    deploy = shlex.split(lines[lines.index("# [4/8] deploy") + 1])
    env = "--set-env-vars=^@^CLOUDGATE_IDENTITY=cloud-run@CLOUDGATE_HTTP2=true@MODE=a,b"
    assert deploy[deploy.index(env) :] == [
        env,
        "--set-custom-audiences=https://api.example.com",
        "--memory=1Gi",
        "--cpu=2",
        "--concurrency=40",
        "--min-instances=1",
        "--max-instances=5",
        "--timeout=600",
        "--use-http2",
        "--quiet",
    ]
    assert "--service-account=runner@my-proj.iam.gserviceaccount.com" in deploy
    assert lines[lines.index("# [4/8] deploy") + 2] == "# [5/8] invokers"


def test_an_existing_account_of_another_project_is_not_created(files: Path) -> None:
    lines = dry_run(files, "--image", "img:1", "--service-account", "shared@other-proj.iam.gserviceaccount.com")
    assert lines[:3] == ["# [1/8] runtime service account", "# no changes", "# [2/8] secrets"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--image", "i", "--service-account", "123-compute@developer.gserviceaccount.com"), "Compute Engine default"),
        (("--image", "i", "--invoker", "allUsers"), "private services only"),
        (("--image", "i", "--invoker", "me@example.com"), "expected serviceAccount:EMAIL"),
        (
            ("--image", "i", "--invoker", "principalSet://iam.googleapis.com/projects/p/pools/x"),
            "expected principalSet://",
        ),
        (("--image", "i", "--source", "."), "exactly one of --image"),
        (("--image", "i", "--memory", "1GB"), "--memory '1GB': expected e.g. 512Mi or 2Gi"),
        (("--image", "i", "--env", "CLOUDGATE_IDENTITY=off"), "set by Cloud Run or by cloudgate deploy"),
        (("--image", "i", "--docs-users-file", "missing.txt"), "missing.txt: no such file"),
    ],
)
def test_bad_requests_are_clear_errors_before_anything_runs(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    argv = ["deploy", "--service", "api", "--project", "p", "--region", "r", *args, "--dry-run"]
    done = run_cloudgate(*argv, cwd=tmp_path, env={"PATH": ""})
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_command_and_args_override_the_entrypoint(files: Path) -> None:
    lines = dry_run(files, "--image", "img:1", "--command", "sh", "--args=-c", "--args", "exec serve a,b")
    deploy = shlex.split(lines[lines.index("# [4/8] deploy") + 1])
    assert "--command=sh" in deploy and "--args=^@^-c@exec serve a,b" in deploy


@pytest.mark.parametrize(
    "pair",
    [
        "API_KEY=sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdEFGH",
        "DATABASE_URL=postgres://app:hunter2@db/app",
        "DB_PASSWORD=hunter2",
    ],
)
def test_env_refuses_a_secret_looking_value_without_printing_it(tmp_path: Path, pair: str) -> None:
    argv = ["deploy", "--service", "api", "--project", "p", "--region", "r", "--image", "i", "--env", pair]
    done = run_cloudgate(*argv, "--dry-run", cwd=tmp_path, env={"PATH": ""})
    name, _, value = pair.partition("=")
    assert done.returncode == 2 and f"--env {name}: its value looks like a secret" in done.stderr
    assert value not in done.stderr + done.stdout


@pytest.mark.parametrize("pair", ["OAUTH_TOKEN_URL=https://oauth2.googleapis.com/token", "PASSWORD_MIN_LENGTH=12",
                                  "SECRET_NAME=api-docs-users"])  # fmt: skip
def test_env_deploys_names_that_only_look_like_secrets(files: Path, pair: str) -> None:
    lines = dry_run(files, "--image", "img:1", "--env", pair)
    deploy = shlex.split(lines[lines.index("# [4/8] deploy") + 1])
    assert any(arg.startswith("--set-env-vars=") and arg.endswith(pair) for arg in deploy)


def test_a_domain_invoker_is_refused(tmp_path: Path) -> None:
    argv = ["deploy", "--service", "api", "--project", "p", "--region", "r", "--image", "i"]
    done = run_cloudgate(*argv, "--invoker", "domain:example.com", "--dry-run", cwd=tmp_path, env={"PATH": ""})
    assert done.returncode == 2 and "every account of a domain could call it" in done.stderr


def test_the_smoke_test_line_names_the_health_path(files: Path) -> None:
    lines = dry_run(files, "--image", "img:1", "--health-path", "/ready")
    assert lines[-1] == "# GET <service URL>/ready with an invoker's ID token (200), without (403)"


def test_without_image_the_current_folder_is_the_source(files: Path) -> None:
    (files / "Dockerfile").write_text("FROM python:3.12-slim\n")
    lines = dry_run(files)
    image = f"europe-west1-docker.pkg.dev/my-proj/cloudgate/api:{source_tag(files)}"
    assert f"gcloud builds submit . --project=my-proj --tag={image} --quiet" in lines


def test_a_principal_set_invoker_is_accepted_and_bound(files: Path) -> None:
    """A workload identity pool's principalSet (a GitHub repository) may be named with --invoker."""
    member = (
        "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci-pool/"
        "attribute.repository/org/repo"
    )
    lines = dry_run(files, "--image", "img:1", "--invoker", member)
    assert any(f"--member={member} --role=roles/run.invoker" in line for line in lines)


def test_iap_shows_the_beta_deploy_the_agent_invoker_and_the_accessors(tmp_path: Path) -> None:
    image = "europe-docker.pkg.dev/my-proj/apps/api:1"
    lines = dry_run(tmp_path, "--image", image, "--iap", "--iap-member", "user:alice@example.com")
    agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com"
    iap_where = "--resource-type=cloud-run --service=api --project=my-proj --region=europe-west1"
    deploy = shlex.split(lines[lines.index("# [4/8] deploy") + 1])
    assert deploy[:4] == ["gcloud", "beta", "run", "deploy"] and deploy[-2:] == ["--iap", "--quiet"]
    audience = "/projects/PROJECT_NUMBER/locations/europe-west1/services/api"
    assert f"--set-env-vars=CLOUDGATE_IDENTITY=cloud-run,CLOUDGATE_IAP_AUDIENCE={audience}" in deploy
    start = lines.index("# [5/8] invokers")
    assert lines[start : lines.index("# [7/8] read back")] == [
        "# [5/8] invokers",
        f"gcloud run services add-iam-policy-binding api {WHERE} --member={agent} --role=roles/run.invoker --quiet",
        "# [6/8] IAP access",
        f"gcloud beta iap web add-iam-policy-binding {iap_where} --member=user:alice@example.com "
        "--role=roles/iap.httpsResourceAccessor --quiet",
    ]
