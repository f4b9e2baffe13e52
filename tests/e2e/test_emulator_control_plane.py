"""The real gcloud deploys, lists, binds and stores secrets against the emulator (throwaway config, one per module).

Services deployed here are local-command revisions (``--image=cloudgate/local-command``): the same control
plane and rollout as an image, without podman.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from pathlib import Path

import anyio
import google.auth.transport.requests
import httpx
import jwt
import pytest
from google.oauth2 import service_account

from tests.e2e.gcloud_stack import LOCAL_COMMAND_IMAGE, GcloudStack

pytestmark = pytest.mark.e2e

ECHO = "echo"


@pytest.fixture(scope="module")
def echo_url(gcloud_stack: GcloudStack) -> str:
    """A private service deployed once for the module by ``gcloud run deploy``."""
    return gcloud_stack.deploy(ECHO, "--no-allow-unauthenticated")


def _id_token(key_file: Path, audience: str) -> str:
    credentials = service_account.IDTokenCredentials.from_service_account_file(str(key_file), target_audience=audience)
    credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)


def test_deploy_reports_a_ready_service_with_url_revision_and_region(gcloud_stack: GcloudStack, echo_url: str) -> None:
    """`run services describe` shows what Cloud Run shows after a deploy: Ready, URL, revision, traffic, region."""
    described = json.loads(gcloud_stack.gcloud("run", "services", "describe", ECHO, "--format=json").stdout)
    status = described["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert status["url"] == echo_url and status["observedGeneration"] == described["metadata"]["generation"]
    assert status["latestReadyRevisionName"].startswith(f"{ECHO}-00001-")
    assert status["traffic"] == [
        {"latestRevision": True, "percent": 100, "revisionName": status["latestReadyRevisionName"]}
    ]
    assert described["metadata"]["labels"]["cloud.googleapis.com/location"] == "us-central1"


def test_services_list_shows_the_service_and_its_region(gcloud_stack: GcloudStack, echo_url: str) -> None:
    listed = json.loads(gcloud_stack.gcloud("run", "services", "list", "--format=json").stdout)
    assert [(s["metadata"]["name"], s["status"]["url"]) for s in listed] == [(ECHO, echo_url)]


def test_describe_of_an_unknown_service_fails_like_cloud_run(gcloud_stack: GcloudStack) -> None:
    done = gcloud_stack.gcloud("run", "services", "describe", "nothing-here", check=False)
    assert done.returncode != 0 and "Cannot find service [nothing-here]" in done.stderr


def test_all_users_makes_the_service_public_and_removing_it_restores_403(
    gcloud_stack: GcloudStack, echo_url: str
) -> None:
    assert httpx.get(f"{echo_url}/echo").status_code == 403
    binding = ("--member=allUsers", "--role=roles/run.invoker")
    gcloud_stack.gcloud("run", "services", "add-iam-policy-binding", ECHO, *binding)
    assert httpx.get(f"{echo_url}/echo").status_code == 200
    policy = json.loads(gcloud_stack.gcloud("run", "services", "get-iam-policy", ECHO, "--format=json").stdout)
    assert {"role": "roles/run.invoker", "members": ["allUsers"]} in policy["bindings"]
    gcloud_stack.gcloud("run", "services", "remove-iam-policy-binding", ECHO, *binding)
    assert httpx.get(f"{echo_url}/echo").status_code == 403


def test_a_stale_etag_is_refused_and_changes_nothing(gcloud_stack: GcloudStack, echo_url: str, tmp_path: Path) -> None:
    """Read-modify-write: a policy whose etag is no longer current gets ABORTED, as Google's IAM answers."""
    stale = json.loads(gcloud_stack.gcloud("run", "services", "get-iam-policy", ECHO, "--format=json").stdout)
    gcloud_stack.gcloud(
        "run", "services", "add-iam-policy-binding", ECHO, "--member=allAuthenticatedUsers", "--role=roles/run.invoker"
    )
    stale["bindings"] = [{"role": "roles/run.invoker", "members": ["allUsers"]}]
    (tmp_path / "policy.json").write_text(json.dumps(stale))
    done = gcloud_stack.gcloud("run", "services", "set-iam-policy", ECHO, str(tmp_path / "policy.json"), check=False)
    assert done.returncode != 0 and "ABORTED" in done.stderr
    gcloud_stack.gcloud(
        "run",
        "services",
        "remove-iam-policy-binding",
        ECHO,
        "--member=allAuthenticatedUsers",
        "--role=roles/run.invoker",
    )
    assert httpx.get(f"{echo_url}/echo").status_code == 403


def test_a_key_made_by_gcloud_calls_the_service_once_bound(
    gcloud_stack: GcloudStack, echo_url: str, tmp_path: Path
) -> None:
    """`iam service-accounts create` + `keys create`: google-auth uses that key file against the emulator as is."""
    gcloud_stack.gcloud("iam", "service-accounts", "create", "caller-sa", "--display-name=Caller")
    email = f"caller-sa@{gcloud_stack.project}.iam.gserviceaccount.com"
    key_file = tmp_path / "caller.json"
    gcloud_stack.gcloud("iam", "service-accounts", "keys", "create", str(key_file), f"--iam-account={email}")
    headers = {"Authorization": f"Bearer {_id_token(key_file, echo_url)}"}
    assert httpx.get(f"{echo_url}/echo", headers=headers).status_code == 403
    gcloud_stack.gcloud(
        "run",
        "services",
        "add-iam-policy-binding",
        ECHO,
        f"--member=serviceAccount:{email}",
        "--role=roles/run.invoker",
    )
    assert httpx.get(f"{echo_url}/echo", headers=headers).status_code == 200
    gcloud_stack.gcloud("run", "services", "update", ECHO, "--add-custom-audiences=https://api.example.test")
    custom = {"Authorization": f"Bearer {_id_token(key_file, 'https://api.example.test')}"}
    assert httpx.get(f"{echo_url}/echo", headers=custom).status_code == 200


def test_mounted_secret_shows_new_versions_and_env_secret_keeps_its_start_value(gcloud_stack: GcloudStack) -> None:
    """Secrets as on Cloud Run: a mounted file re-read gives the latest version; an env var is resolved at start."""
    gcloud_stack.gcloud("secrets", "create", "api-key", "--data-file=-", stdin="first")
    url = gcloud_stack.deploy(
        "secrets-app", "--allow-unauthenticated", "--set-secrets=/secrets/api-key=api-key:latest,TOKEN=api-key:latest",
        module="tests.e2e.revision_app",
    )  # fmt: skip
    assert httpx.get(f"{url}/file/secrets/api-key").text == "first"
    gcloud_stack.gcloud("secrets", "versions", "add", "api-key", "--data-file=-", stdin="second")
    assert httpx.get(f"{url}/file/secrets/api-key").text == "second"
    assert httpx.get(f"{url}/env/TOKEN").text == "first"
    assert gcloud_stack.gcloud("secrets", "versions", "access", "latest", "--secret=api-key").stdout == "second"


def test_a_revision_runs_as_its_service_account_on_the_metadata_server(gcloud_stack: GcloudStack) -> None:
    """google-auth inside the revision gets ID tokens for the account given with --service-account."""
    gcloud_stack.gcloud("iam", "service-accounts", "create", "runtime-sa")
    email = f"runtime-sa@{gcloud_stack.project}.iam.gserviceaccount.com"
    url = gcloud_stack.deploy(
        "identity", "--allow-unauthenticated", f"--service-account={email}", module="tests.e2e.revision_app"
    )
    token = httpx.get(f"{url}/id-token", params={"audience": "https://other.example"}, timeout=60).text
    claims = jwt.decode(token, options={"verify_signature": False})
    unique_id = gcloud_stack.gcloud("iam", "service-accounts", "describe", email, "--format=value(uniqueId)").stdout
    assert (claims["aud"], claims["sub"]) == ("https://other.example", unique_id.strip())


def test_a_revision_whose_account_cannot_read_its_secret_fails_the_deploy(gcloud_stack: GcloudStack) -> None:
    gcloud_stack.gcloud("iam", "service-accounts", "create", "no-secrets")
    gcloud_stack.gcloud("secrets", "create", "locked", "--data-file=-", stdin="x")
    done = gcloud_stack.gcloud(
        "run", "deploy", "locked-app", f"--image={LOCAL_COMMAND_IMAGE}", "--command=true",
        "--set-secrets=TOKEN=locked:latest",
        f"--service-account=no-secrets@{gcloud_stack.project}.iam.gserviceaccount.com",
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "roles/secretmanager.secretAccessor" in done.stderr


def test_a_revision_that_never_listens_fails_the_deploy_and_the_previous_one_keeps_serving(
    gcloud_stack: GcloudStack,
) -> None:
    url = gcloud_stack.deploy("steady", "--allow-unauthenticated")
    serving = gcloud_stack.gcloud(
        "run", "services", "describe", "steady", "--format=value(status.latestReadyRevisionName)"
    )
    done = gcloud_stack.gcloud(
        "run", "deploy", "steady", "--image=cloudgate/local-command", "--command=false", check=False
    )
    assert done.returncode == 1 and "is not ready and cannot serve traffic" in done.stderr
    assert httpx.get(f"{url}/echo").status_code == 200
    after = gcloud_stack.gcloud(
        "run", "services", "describe", "steady", "--format=value(status.latestReadyRevisionName)"
    )
    assert after.stdout == serving.stdout


def test_a_new_revision_takes_the_traffic_while_requests_in_flight_on_the_old_one_finish(
    gcloud_stack: GcloudStack, tmp_path: Path
) -> None:
    """Rollout as on Cloud Run: once the new revision listens it gets every new request; the old one gets
    SIGTERM, and a request it was already serving still completes (its 10 s grace).

    The held request is released as soon as the old instance has been sent SIGTERM (the emulator logs it), not
    after gcloud has finished: on a loaded machine gcloud alone can outlast the 10 s grace, and SIGKILL is right.
    """
    release = tmp_path / "release"
    flags = ("--allow-unauthenticated", f"--set-env-vars=HOLD_FILE={release}")
    url = gcloud_stack.deploy("rolling", *flags, module="tests.e2e.revision_app")
    first = httpx.get(f"{url}/revision").text
    drain = gcloud_stack.drain
    assert drain is not None
    started = drain.output.count("hold: started")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        held = pool.submit(httpx.get, f"{url}/hold", timeout=180)
        drain.wait_for_count("hold: started", started + 1)
        pid = re.findall(r"hold: started in pid (\d+)", drain.output)[-1]
        changed = ("--allow-unauthenticated", f"--set-env-vars=HOLD_FILE={release},GENERATION=2")
        deployed = pool.submit(gcloud_stack.deploy, "rolling", *changed, module="tests.e2e.revision_app")
        drain.wait_for(f"service (pid {pid}) sent SIGTERM", timeout=180)
        release.touch()
        answer = held.result()
        deployed.result()
    assert (answer.status_code, answer.text) == (200, first)
    second = httpx.get(f"{url}/revision").text
    assert second != first and second.startswith("rolling-00002-")


def test_delete_removes_the_service_and_its_url_answers_404(gcloud_stack: GcloudStack) -> None:
    """As on Google, a deleted service's URL still answers: 404, not a refused connection."""
    url = gcloud_stack.deploy("short-lived", "--allow-unauthenticated")
    gcloud_stack.gcloud("run", "services", "delete", "short-lived")
    assert gcloud_stack.gcloud("run", "services", "describe", "short-lived", check=False).returncode != 0
    assert httpx.get(f"{url}/echo").status_code == 404


@pytest.mark.anyio
async def test_a_revision_deployed_with_concurrency_one_starts_another_instance_for_a_second_request(
    gcloud_stack: GcloudStack,
) -> None:
    """`--min-instances=1 --max-instances=2 --concurrency=1`: a request that finds the one instance busy gets a new one."""
    scaling = ("--min-instances=1", "--max-instances=2", "--concurrency=1")
    url = gcloud_stack.deploy("scaled", "--allow-unauthenticated", *scaling)
    assert len(gcloud_stack.instances()["scaled"]) == 1
    async with httpx.AsyncClient(timeout=120) as client, anyio.create_task_group() as group:
        group.start_soon(client.get, f"{url}/slow?seconds=120")
        with anyio.fail_after(60):  # wait for the slow request to hold the only slot
            while True:
                if sum(i["in_flight"] for i in gcloud_stack.instances()["scaled"]) >= 1:
                    break
                await anyio.sleep(0.05)
        second = await client.get(f"{url}/echo")
        instances = gcloud_stack.instances()["scaled"]
        group.cancel_scope.cancel()
    assert second.status_code == 200
    assert len(instances) == 2 and sorted(i["served"] for i in instances) == [1, 1]
    assert gcloud_stack.counter("instance_starts", "scaled") == 2
