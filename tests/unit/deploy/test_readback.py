"""The deploy's read-back: the audit's checks plus its own, on gcloud's JSON; any SERIOUS finding fails it."""

from __future__ import annotations

from cloudgate.deploy.options import DeployOptions
from cloudgate.deploy.readback import check_deployment, planted_secrets
from tests.unit.deploy import gcloud_output as out


def problem_codes(
    options: DeployOptions, service: dict, policy: dict | None = None, project: dict | None = None
) -> list[str]:  # type: ignore[type-arg]
    problems, _notes = check_deployment(options, service, policy or out.policy(), project or out.project_policy())
    return [p.code for p in problems]


def test_read_back_accepts_what_was_asked(options: DeployOptions) -> None:
    assert problem_codes(options, out.service()) == []


def test_a_missing_service_fails(options: DeployOptions) -> None:
    problems, _notes = check_deployment(options, None, {})
    assert [p.code for p in problems] == ["service-missing"]


def test_read_back_catches_a_public_service_and_a_missing_binding(options: DeployOptions) -> None:
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers"]}]}
    problems, _notes = check_deployment(options, out.service(), policy, out.project_policy())
    assert [p.code for p in problems] == ["public-invoker", "missing-invoker"]
    assert problems[1].fix == (
        "gcloud run services add-iam-policy-binding api --project=my-proj --region=europe-west1 "
        f"--member={out.INVOKER} --role=roles/run.invoker"
    )


def test_read_back_catches_an_invoker_nobody_named(options: DeployOptions) -> None:
    policy = out.policy()
    policy["bindings"][0]["members"].append("user:old@example.com")
    assert problem_codes(options, out.service(), policy) == ["unnamed-invoker"]


def test_read_back_catches_a_secret_that_arrived_as_an_env_var(options: DeployOptions) -> None:
    service = out.service()
    out.container(service)["env"].append(
        {"name": "DOCS", "valueFrom": {"secretKeyRef": {"key": "latest", "name": "api-docs-users"}}}
    )
    assert problem_codes(options, service) == ["secret-as-env"]


def test_read_back_catches_a_literal_secret_however_it_got_there(options: DeployOptions) -> None:
    service = out.service()
    out.container(service)["env"].append({"name": "DATABASE_URL", "value": "postgres://app:hunter2@db/app"})
    assert problem_codes(options, service) == ["literal-secret"]


def test_read_back_catches_a_runtime_account_that_can_grant_roles(options: DeployOptions) -> None:
    project = out.project_policy()
    project["bindings"].append({"members": [f"serviceAccount:{out.RUNTIME}"], "role": "roles/iam.securityAdmin"})
    assert problem_codes(options, out.service(), project=project) == ["privileged-account"]


def test_read_back_catches_a_revision_that_is_not_ready(options: DeployOptions) -> None:
    service = out.service()
    service["status"]["conditions"][0] = {"status": "False", "type": "Ready", "message": "Revision failed."}
    assert problem_codes(options, service) == ["revision-not-ready"]


def test_the_default_account_asked_for_explicitly_passes(options: DeployOptions) -> None:
    compute = "123456789012-compute@developer.gserviceaccount.com"
    asked = DeployOptions(**{**options.__dict__, "service_account": compute, "allow_default_service_account": True})
    service = out.service()
    service["spec"]["template"]["spec"]["serviceAccountName"] = compute
    assert problem_codes(asked, service) == []


def test_a_literal_secret_already_in_the_service_is_found_before_the_deploy(options: DeployOptions) -> None:
    service = out.service()
    out.container(service)["env"].append({"name": "TOKEN", "value": "ghp_R8bYq2LxW5nT0vKc3ZpH7sJd9FgA4eMu1QoI"})
    [finding] = planted_secrets(options, service)
    assert finding.code == "literal-secret" and finding.message.startswith("env var TOKEN of container #1 holds")
    assert "ghp_" not in finding.line()


def test_a_service_as_the_deploy_left_it_or_missing_holds_no_planted_secret(options: DeployOptions) -> None:
    assert planted_secrets(options, out.service()) == []
    assert planted_secrets(options, None) == []


def test_traffic_left_on_an_older_revision_fails(options: DeployOptions) -> None:
    service = out.service()
    service["spec"]["traffic"] = [
        {"percent": 100, "revisionName": "api-00001-abc"},
        {"percent": 0, "latestRevision": True, "tag": "next"},
    ]
    assert problem_codes(options, service) == ["traffic-not-latest"]
