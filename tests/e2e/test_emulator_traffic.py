"""Revisions and traffic as Cloud Run runs them, driven by the real gcloud (throwaway config, one emulator per module).

The canary (``deploy --no-traffic --tag``, ``update-traffic``, rollback), Google's synchronous validation and
defaults, ``revisions list``/``delete``, a reused revision name and names per region.
Revisions are local commands (``tests.e2e.revision_app``; ``GET /revision`` answers ``$K_REVISION``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.e2e.gcloud_stack import LOCAL_COMMAND_IMAGE, GcloudStack

pytestmark = pytest.mark.e2e

APP = "tests.e2e.revision_app"
CANARY = "canary"


def _describe(stack: GcloudStack, name: str, *flags: str) -> dict[str, Any]:
    described: dict[str, Any] = json.loads(
        stack.gcloud("run", "services", "describe", name, "--format=json", *flags).stdout
    )
    return described


def _revisions_hit(url: str, count: int) -> Counter[str]:
    with httpx.Client(timeout=60) as client:
        return Counter(client.get(f"{url}/revision").raise_for_status().text for _ in range(count))


@pytest.fixture(scope="module")
def canary(gcloud_stack: GcloudStack) -> dict[str, str]:
    """Service ``shop``: revision A serving, revision B deployed with ``--no-traffic --tag canary``."""
    url = gcloud_stack.deploy("shop", "--allow-unauthenticated", "--revision-suffix=a", module=APP)
    gcloud_stack.deploy(
        "shop", "--allow-unauthenticated", "--revision-suffix=b", "--no-traffic", f"--tag={CANARY}",
        "--set-env-vars=GENERATION=2", module=APP,
    )  # fmt: skip
    status = _describe(gcloud_stack, "shop")["status"]
    tag_url = next(t["url"] for t in status["traffic"] if t.get("tag") == CANARY)
    return {"url": url, "canary": tag_url, "a": "shop-a", "b": "shop-b"}


def test_no_traffic_keeps_the_service_url_on_the_serving_revision(canary: dict[str, str]) -> None:
    assert _revisions_hit(canary["url"], 20) == Counter({canary["a"]: 20})


def test_the_tag_url_serves_the_tagged_revision(canary: dict[str, str]) -> None:
    assert _revisions_hit(canary["canary"], 5) == Counter({canary["b"]: 5})


def test_status_traffic_shows_the_split_and_the_tag(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    described = _describe(gcloud_stack, "shop")
    assert described["spec"]["traffic"] == [
        {"percent": 100, "revisionName": canary["a"]},
        {"revisionName": canary["b"], "tag": CANARY},
    ]
    assert described["status"]["traffic"] == [
        {"percent": 100, "revisionName": canary["a"]},
        {"percent": 0, "revisionName": canary["b"], "tag": CANARY, "url": canary["canary"]},
    ] or described["status"]["traffic"] == [
        {"percent": 100, "revisionName": canary["a"]},
        {"revisionName": canary["b"], "tag": CANARY, "url": canary["canary"]},
    ]


def test_a_fifty_fifty_split_sends_about_half_the_requests_to_each(
    gcloud_stack: GcloudStack, canary: dict[str, str]
) -> None:
    """200 requests at 50/50: a binomial count lies within 100 +- 40 (5.6 standard deviations) but for 2e-8."""
    gcloud_stack.gcloud(
        "run", "services", "update-traffic", "shop", f"--to-revisions={canary['b']}=50,{canary['a']}=50"
    )
    hits = _revisions_hit(canary["url"], 200)
    assert set(hits) == {canary["a"], canary["b"]}
    assert 60 <= hits[canary["b"]] <= 140


def test_rollback_sends_everything_to_the_old_revision(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    assert _revisions_hit(canary["url"], 20) == Counter({canary["a"]: 20})
    assert _revisions_hit(canary["canary"], 3) == Counter({canary["b"]: 3})


def test_to_tags_then_to_latest_move_all_traffic(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-tags={CANARY}=100")
    assert _revisions_hit(canary["url"], 10) == Counter({canary["b"]: 10})
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", "--to-latest")
    traffic = _describe(gcloud_stack, "shop")["status"]["traffic"]
    assert {"latestRevision": True, "percent": 100, "revisionName": canary["b"]} in traffic
    assert _revisions_hit(canary["url"], 10) == Counter({canary["b"]: 10})


def test_revisions_list_shows_active_and_deployed_by(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    listed = gcloud_stack.gcloud(
        "run", "revisions", "list", "--service=shop", "--format=value(metadata.name,active.yesno(yes=yes,no=no),author)"
    ).stdout
    rows = dict((line.split("\t")[0], line.split("\t")[1:]) for line in listed.splitlines())
    deployer = f"deployer@{gcloud_stack.project}.iam.gserviceaccount.com"
    assert rows == {canary["a"]: ["yes", deployer], canary["b"]: ["no", deployer]}


def test_a_serving_revision_cannot_be_deleted(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    done = gcloud_stack.gcloud("run", "revisions", "delete", canary["a"], "--quiet", check=False)
    assert done.returncode == 1 and "FAILED_PRECONDITION" in done.stderr and "is serving traffic" in done.stderr
    assert _revisions_hit(canary["url"], 3) == Counter({canary["a"]: 3})


def test_a_reused_revision_name_with_a_changed_template_is_already_exists(
    gcloud_stack: GcloudStack, canary: dict[str, str]
) -> None:
    done = gcloud_stack.gcloud(
        "run", "deploy", "shop", f"--image={LOCAL_COMMAND_IMAGE}", "--command=python3", "--args=-m,other",
        "--revision-suffix=a", check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "already exists" in done.stderr
    assert _describe(gcloud_stack, "shop")["status"]["latestCreatedRevisionName"] == canary["b"]


def test_a_removed_tags_url_answers_404(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--remove-tags={CANARY}")
    assert httpx.get(f"{canary['canary']}/revision").status_code == 404
    assert _revisions_hit(canary["url"], 3) == Counter({canary["a"]: 3})


def test_a_revision_without_traffic_or_tag_can_be_deleted(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--to-revisions={canary['a']}=100")
    gcloud_stack.gcloud("run", "services", "update-traffic", "shop", f"--remove-tags={CANARY}")
    gcloud_stack.gcloud("run", "revisions", "delete", canary["b"], "--quiet")
    listed = gcloud_stack.gcloud("run", "revisions", "list", "--service=shop", "--format=value(metadata.name)")
    assert listed.stdout.split() == [canary["a"]]


BAD_FLAGS = {
    "concurrency 2000": (("--concurrency=2000",), "containerConcurrency"),
    "100Gi with 7 cpu": (("--memory=100Gi", "--cpu=7"), "Invalid value specified for cpu"),
    "min over max": (("--min-instances=5", "--max-instances=2"), "must be less than or equal to max instances"),
    "max zero": (("--max-instances=0",), "max instances must be between 1 and 1000"),
}


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS.values(), ids=BAD_FLAGS.keys())
def test_a_bad_deploy_is_refused_and_creates_nothing(
    gcloud_stack: GcloudStack, flags: tuple[str, ...], message: str
) -> None:
    done = gcloud_stack.gcloud(
        "run", "deploy", "refused", f"--image={LOCAL_COMMAND_IMAGE}", "--command=true", *flags, check=False
    )
    assert done.returncode == 1 and message in done.stderr
    assert gcloud_stack.gcloud("run", "services", "describe", "refused", check=False).returncode == 1


def test_a_deploy_without_flags_gets_googles_defaults(gcloud_stack: GcloudStack, canary: dict[str, str]) -> None:
    exported = _describe(gcloud_stack, "shop")
    number = gcloud_stack.gcloud("projects", "describe", gcloud_stack.project, "--format=value(projectNumber)")
    account = f"{number.stdout.strip()}-compute@developer.gserviceaccount.com"
    spec = exported["spec"]["template"]["spec"]
    assert (spec["containerConcurrency"], spec["timeoutSeconds"], spec["serviceAccountName"]) == (80, 300, account)
    assert spec["containers"][0]["resources"]["limits"] == {"cpu": "1000m", "memory": "512Mi"}
    assert exported["metadata"]["namespace"] == number.stdout.strip()
    assert gcloud_stack.gcloud("iam", "service-accounts", "describe", account, check=False).returncode == 0


def test_the_same_name_lives_in_two_regions(gcloud_stack: GcloudStack) -> None:
    central = gcloud_stack.deploy("twin", "--allow-unauthenticated", "--region=us-central1", module=APP)
    gcloud_stack.deploy("twin", "--allow-unauthenticated", "--region=us-east1", module=APP)
    east = _describe(gcloud_stack, "twin", "--region=us-east1")["status"]["url"]
    assert central != east
    listed = json.loads(gcloud_stack.gcloud("run", "services", "list", "--format=json").stdout)
    regions = sorted(
        s["metadata"]["labels"]["cloud.googleapis.com/location"] for s in listed if s["metadata"]["name"] == "twin"
    )
    assert regions == ["us-central1", "us-east1"]
    gcloud_stack.gcloud("run", "services", "delete", "twin", "--region=us-east1", "--quiet")
    assert httpx.get(f"{central}/revision").status_code == 200
