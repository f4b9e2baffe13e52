"""The plan computed from what a project holds: nothing to do when it matches, only the difference otherwise."""

from __future__ import annotations

import pytest

from cloudgate.deploy import plan
from cloudgate.deploy.options import DeployOptions
from cloudgate.errors import ConfigError
from tests.unit.deploy import gcloud_output as out


def deployed(options: DeployOptions) -> plan.Observed:
    """A project where the last deploy of ``options`` is in place (gcloud's describe output)."""
    member = f"serviceAccount:{options.runtime_account}"
    secret = plan.SecretState(exists=True, current=True, accessors=frozenset({member}))
    return plan.Observed(
        account_exists=True,
        secrets={name: secret for name, _path, _mount in options.secrets},
        service=out.service(),
        policy=out.policy(),
    )


def all_commands(options: DeployOptions, observed: plan.Observed) -> list[str]:
    """The commands that change something (steps 1-5), as the runner would run them."""
    return [c.shell() for step in plan.steps(options, observed) if not step.checks for c in step.commands]


def test_a_project_that_matches_needs_no_command(options: DeployOptions) -> None:
    assert plan.service_differences(options, out.service()) == []
    assert all_commands(options, deployed(options)) == []


def test_a_changed_secret_file_adds_one_version_only(options: DeployOptions) -> None:
    observed = deployed(options)
    secrets = dict(observed.secrets)
    secrets["api-docs-users"] = plan.SecretState(
        exists=True, current=False, accessors=secrets["api-docs-users"].accessors
    )
    commands = all_commands(options, plan.Observed(**{**observed.__dict__, "secrets": secrets}))
    assert commands == [
        f"gcloud secrets versions add api-docs-users --project=my-proj --data-file={options.docs_users_file} --quiet"
    ]


def test_a_new_image_redeploys_in_one_command(options: DeployOptions) -> None:
    service = out.service()
    out.container(service)["image"] = "europe-west1-docker.pkg.dev/my-proj/cloudgate/api:old"
    commands = plan.deploy_step(options, plan.Observed(service=service))
    assert [c.argv[:3] for c in commands] == [("gcloud", "run", "deploy")]


def test_traffic_pinned_to_an_older_revision_by_hand_goes_back_to_the_latest(options: DeployOptions) -> None:
    """gcloud run deploy keeps a pin (the new revision would serve 0%): the plan moves the traffic itself."""
    service = out.service()
    service["spec"]["traffic"] = [{"percent": 100, "revisionName": "api-00001-abc"}]
    assert all_commands(options, plan.Observed(**{**deployed(options).__dict__, "service": service})) == [
        "gcloud run services update-traffic api --project=my-proj --region=europe-west1 --to-latest --quiet"
    ]


def test_an_audience_pinned_by_an_earlier_deploy_is_removed(options: DeployOptions) -> None:
    # Earlier versions set the URL as CLOUDGATE_AUDIENCES, which refused plain `gcloud auth print-identity-token`
    # tokens that Cloud Run itself accepts.
    service = out.service()
    out.container(service)["env"].append({"name": "CLOUDGATE_AUDIENCES", "value": out.URL})
    assert plan.service_differences(options, service) == ["environment variables"]
    assert "CLOUDGATE_AUDIENCES" not in plan.deploy_step(options, plan.Observed(service=service))[0].shell()


def test_cpu_one_matches_what_cloud_run_prints(options: DeployOptions) -> None:
    settings = (("cpu", "1"), ("memory", "512Mi"), ("concurrency", "80"), ("timeout", "300"))
    asked = DeployOptions(**{**options.__dict__, "settings": settings})
    assert plan.service_differences(asked, out.service()) == []


def test_a_changed_setting_is_a_difference_in_gcloud_s_terms(options: DeployOptions) -> None:
    asked = DeployOptions(**{**options.__dict__, "settings": (("cpu", "2"), ("min-instances", "1"))})
    assert plan.service_differences(asked, out.service()) == ["cpu 1000m -> 2", "min instances 0 -> 1"]


def test_a_bad_setting_is_refused_with_an_example(options: DeployOptions) -> None:
    with pytest.raises(ConfigError, match=r"--memory '1GB': expected e.g. 512Mi or 2Gi"):
        DeployOptions(**{**options.__dict__, "settings": (("memory", "1GB"),)})


def test_iam_check_turned_off_by_someone_is_a_difference(options: DeployOptions) -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "True"
    assert plan.service_differences(options, service) == ["invoker IAM check is off"]


def test_unnamed_and_public_invokers_are_removed_and_named_ones_added(options: DeployOptions) -> None:
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers", "user:old@example.com"]}]}
    commands = plan.invokers_step(options, plan.Observed(policy=policy))
    where = "--project=my-proj --region=europe-west1"
    assert [c.shell() for c in commands] == [
        f"gcloud run services add-iam-policy-binding api {where} --member={out.INVOKER} --role=roles/run.invoker --quiet",
        f"gcloud run services remove-iam-policy-binding api {where} --member=allUsers --role=roles/run.invoker --quiet",
        f"gcloud run services remove-iam-policy-binding api {where} --member=user:old@example.com "
        "--role=roles/run.invoker --quiet",
    ]


def test_the_plan_of_a_project_that_matches_says_no_changes_at_each_step(options: DeployOptions) -> None:
    lines = plan.render(plan.steps(options, deployed(options), health_path="/ready"))
    where = "--project=my-proj --region=europe-west1"
    assert lines == [
        "# [1/8] runtime service account", "# no changes",
        "# [2/8] secrets", "# no changes",
        "# [3/8] image", f"# using --image {out.IMAGE}",
        "# [4/8] deploy", "# no changes",
        "# [5/8] invokers", "# no changes",
        "# [6/8] IAP access", "# no changes",
        "# [7/8] read back", "# cloudgate checks these; gcloud's exit codes are not proof",
        f"gcloud run services describe api {where} --format=json --quiet",
        f"gcloud run services get-iam-policy api {where} --format=json --quiet",
        "# [8/8] smoke test", "# GET <service URL>/ready with an invoker's ID token (200), without (403)",
        "# no changes: the service already is what was asked",
    ]  # fmt: skip


def test_the_step_table_numbers_the_invokers_iap_access_read_back_and_smoke_test() -> None:
    assert [plan.label(n) for n in (plan.INVOKERS, plan.IAP_ACCESS, plan.READ_BACK, plan.SMOKE_TEST)] == [
        "[5/8] invokers", "[6/8] IAP access", "[7/8] read back", "[8/8] smoke test",
    ]  # fmt: skip
