"""``cloudgate deploy --iap --iap-member ...``: the exact gcloud commands of each step, from what the project holds."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from cloudgate.deploy import plan
from cloudgate.deploy.options import DeployOptions
from cloudgate.errors import ConfigError
from tests.unit.deploy import gcloud_output as out

ETL = "serviceAccount:etl@my-proj.iam.gserviceaccount.com"
ALICE = "user:alice@example.com"
TEAM = "group:team@example.com"
NUMBER = "123456789012"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
AUDIENCE = f"/projects/{NUMBER}/locations/{out.REGION}/services/{out.SERVICE}"
WHERE = f"--project={out.PROJECT} --region={out.REGION}"
IAP_WHERE = f"--resource-type=cloud-run --service=api --project={out.PROJECT} --region={out.REGION}"
ACCESSOR = "roles/iap.httpsResourceAccessor"


def asked(**overrides: Any) -> DeployOptions:
    values: dict[str, Any] = {
        "project": out.PROJECT, "region": out.REGION, "service": out.SERVICE, "image": out.IMAGE,
        "invokers": (ETL,), "iap": True, "iap_members": (ALICE, TEAM), "project_number": NUMBER,
    }  # fmt: skip
    return DeployOptions(**{**values, **overrides})


@pytest.fixture
def secret_files(tmp_path: Path) -> dict[str, Path]:
    """The two secret files ``gcloud_output.service()`` mounts, so its description matches what was asked."""
    (tmp_path / "users.txt").write_text("alice:hash\n")
    (tmp_path / "keys.json").write_text('{"keys": []}\n')
    return {"docs_users_file": tmp_path / "users.txt", "keys_file": tmp_path / "keys.json"}


def with_iap(service: dict[str, Any]) -> dict[str, Any]:
    """The service as gcloud describes it after ``--iap``, with the env the deploy set."""
    service["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] = "true"
    out.container(service)["env"].append({"name": "CLOUDGATE_IAP_AUDIENCE", "value": AUDIENCE})
    return service


def accessors(*members: str) -> dict[str, Any]:
    return {"bindings": [{"role": ACCESSOR, "members": list(members)}], "etag": "BwY=", "version": 1}


def invokers(*members: str) -> dict[str, Any]:
    return {"bindings": [{"role": "roles/run.invoker", "members": list(members)}], "etag": "BwX=", "version": 1}


def test_a_new_service_is_deployed_on_the_beta_track_with_iap_and_its_audience() -> None:
    (command,) = plan.deploy_step(asked(), plan.Observed())
    argv = list(command.argv)
    assert argv[:4] == ["gcloud", "beta", "run", "deploy"]
    assert argv[-2:] == ["--iap", "--quiet"]
    assert f"--set-env-vars=CLOUDGATE_IDENTITY=cloud-run,CLOUDGATE_IAP_AUDIENCE={AUDIENCE}" in argv


def test_the_emulator_s_iap_keys_url_is_set_where_they_are_not_google_s() -> None:
    url = "http://127.0.0.1:8123/iap/verify/public_key-jwk"
    (command,) = plan.deploy_step(asked(iap_jwks_url=url), plan.Observed())
    assert f"CLOUDGATE_IAP_JWKS_URL={url}" in command.shell()


def test_google_s_iap_keys_url_is_not_set() -> None:
    (command,) = plan.deploy_step(asked(), plan.Observed())
    assert "CLOUDGATE_IAP_JWKS_URL" not in command.shell()


def test_an_explicit_iap_audience_replaces_the_reported_form() -> None:
    (command,) = plan.deploy_step(asked(iap_audience_override="/projects/1/global/backendServices/2"), plan.Observed())
    assert "CLOUDGATE_IAP_AUDIENCE=/projects/1/global/backendServices/2" in command.shell()


def test_a_service_that_already_has_iap_needs_no_redeploy(secret_files: dict[str, Path]) -> None:
    assert plan.service_differences(asked(**secret_files), with_iap(out.service())) == []


def test_turning_iap_on_is_a_difference(secret_files: dict[str, Path]) -> None:
    service = out.service()
    out.container(service)["env"].append({"name": "CLOUDGATE_IAP_AUDIENCE", "value": AUDIENCE})
    assert plan.service_differences(asked(**secret_files), service) == ["IAP off -> on"]


def test_without_iap_a_service_that_has_it_is_redeployed_with_no_iap() -> None:
    options = asked(iap=False, iap_members=(), project_number=None)
    (command,) = plan.deploy_step(options, plan.Observed(service=with_iap(out.service())))
    argv = list(command.argv)
    assert argv[:4] == ["gcloud", "beta", "run", "deploy"] and argv[-2:] == ["--no-iap", "--quiet"]
    assert "CLOUDGATE_IAP_AUDIENCE" not in command.shell()


def test_without_iap_a_service_without_it_stays_on_the_ga_track() -> None:
    (command,) = plan.deploy_step(asked(iap=False, iap_members=(), project_number=None), plan.Observed())
    assert list(command.argv[:3]) == ["gcloud", "run", "deploy"]
    assert "iap" not in command.shell()


def test_iap_s_service_agent_is_granted_the_invoker_role() -> None:
    commands = plan.invokers_step(asked(), plan.Observed(policy=invokers(ETL)))
    assert [c.shell() for c in commands] == [
        f"gcloud run services add-iam-policy-binding api {WHERE} --member={AGENT} --role=roles/run.invoker --quiet"
    ]


def test_iap_s_service_agent_is_not_an_unwanted_invoker() -> None:
    assert plan.unwanted_invokers(asked(), invokers(ETL, AGENT)) == []


def test_the_named_members_are_granted_the_accessor_role() -> None:
    commands = plan.iap_access_step(asked(), plan.Observed(iap_policy={}))
    assert [c.shell() for c in commands] == [
        f"gcloud beta iap web add-iam-policy-binding {IAP_WHERE} --member={ALICE} --role={ACCESSOR} --quiet",
        f"gcloud beta iap web add-iam-policy-binding {IAP_WHERE} --member={TEAM} --role={ACCESSOR} --quiet",
    ]


def test_accessors_nobody_named_are_removed() -> None:
    commands = plan.iap_access_step(asked(), plan.Observed(iap_policy=accessors(ALICE, TEAM, "allUsers")))
    assert [shlex.split(c.shell()) for c in commands] == [
        ["gcloud", "beta", "iap", "web", "remove-iam-policy-binding", *IAP_WHERE.split(), "--member=allUsers",
         f"--role={ACCESSOR}", "--quiet"],
    ]  # fmt: skip


def test_without_iap_the_iap_access_step_does_nothing() -> None:
    options = asked(iap=False, iap_members=(), project_number=None)
    assert plan.iap_access_step(options, plan.Observed(iap_policy=accessors("allUsers"))) == ()


def test_the_read_back_reads_the_iap_policy_too() -> None:
    shells = [c.shell() for c in plan.readback_commands(asked())]
    assert shells[-1] == f"gcloud beta iap web get-iam-policy {IAP_WHERE} --format=json --quiet"


def test_a_dry_run_of_a_matching_iap_service_says_no_changes(secret_files: dict[str, Path]) -> None:
    options = asked(**secret_files)
    member = f"serviceAccount:{options.runtime_account}"
    secret = plan.SecretState(exists=True, current=True, accessors=frozenset({member}))
    observed = plan.Observed(
        account_exists=True,
        secrets={name: secret for name, _path, _mount in options.secrets},
        service=with_iap(out.service()),
        policy=invokers(ETL, AGENT),
        iap_policy=accessors(ALICE, TEAM),
    )
    assert [c for step in plan.steps(options, observed) if not step.checks for c in step.commands] == []


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers", "user:allUsers"])
def test_anyone_as_an_iap_member_is_refused(member: str) -> None:
    with pytest.raises(ConfigError, match="anyone with a Google account would pass IAP"):
        asked(iap_members=(member,))


def test_an_iap_member_without_iap_is_refused() -> None:
    with pytest.raises(ConfigError, match="--iap-member needs --iap"):
        asked(iap=False, project_number=None)


def test_a_project_number_that_is_not_digits_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected digits"):
        asked(project_number="my-proj")


def test_a_plan_without_the_project_number_shows_where_it_goes() -> None:
    """Only a dry run that could not read the project gets here (the deploy itself refuses to run)."""
    options = asked(project_number=None)
    assert options.iap_agent == "serviceAccount:service-PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com"
    assert options.iap_audience == f"/projects/PROJECT_NUMBER/locations/{out.REGION}/services/{out.SERVICE}"


def test_the_iap_audience_cannot_be_set_with_env_as_well() -> None:
    with pytest.raises(ConfigError, match="set by cloudgate deploy --iap itself"):
        asked(env=(("CLOUDGATE_IAP_AUDIENCE", "/projects/1/x"),))


def test_a_domain_may_pass_iap() -> None:
    assert asked(iap_members=("domain:example.com",)).iap_members == ("domain:example.com",)


@pytest.mark.parametrize("value", ["basic", "iap", "both"])
def test_the_docs_auth_choice_is_not_taken_for_a_secret(value: str) -> None:
    from cloudgate.deploy.env_secrets import secret_kind

    assert secret_kind("CLOUDGATE_DOCS_AUTH", value) is None


def test_anything_else_in_the_docs_auth_setting_still_is() -> None:
    from cloudgate.deploy.env_secrets import secret_kind

    assert secret_kind("CLOUDGATE_DOCS_AUTH", "s3cr3t-value") is not None


def test_turning_iap_off_retires_iap_s_agent_without_asking() -> None:
    options = asked(iap=False, iap_members=(), project_number=None)
    observed = plan.Observed(service=with_iap(out.service()), policy=invokers(ETL, AGENT, "user:eve@example.com"))
    assert plan.retiring_iap_agents(options, observed) == {AGENT}


def test_with_iap_on_and_asked_no_agent_is_retired() -> None:
    observed = plan.Observed(service=with_iap(out.service()), policy=invokers(ETL, AGENT))
    assert plan.retiring_iap_agents(asked(), observed) == set()
