"""``audit_service`` on JSON shaped exactly like gcloud's: one finding per problem, serious ones first."""

from __future__ import annotations

from cloudgate.deploy.audit import Target, audit_service
from tests.unit.deploy import gcloud_output as out

TARGET = Target(out.SERVICE, out.PROJECT, out.REGION)


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f"{f.severity}:{f.code}" for f in findings]


def test_a_private_service_with_a_dedicated_account_has_no_serious_finding() -> None:
    findings = audit_service(TARGET, out.service(), out.policy(), out.project_policy())
    assert codes(findings) == ["info:invokers", "info:ingress"]
    assert findings[0].message == "may invoke: serviceAccount:etl@my-proj.iam.gserviceaccount.com"


def test_all_users_as_invoker_is_serious_with_the_command_that_fixes_it() -> None:
    policy = out.policy()
    policy["bindings"].append({"members": ["allUsers"], "role": "roles/run.invoker"})
    [finding] = [f for f in audit_service(TARGET, out.service(), policy, out.project_policy()) if f.serious]
    assert finding.code == "public-invoker"
    assert finding.fix == (
        "gcloud run services remove-iam-policy-binding api --project=my-proj --region=europe-west1 "
        "--member=allUsers --role=roles/run.invoker"
    )


def test_all_authenticated_users_is_public_too() -> None:
    policy = {"bindings": [{"members": ["allAuthenticatedUsers"], "role": "roles/run.invoker"}], "etag": "x"}
    assert "serious:public-invoker" in codes(audit_service(TARGET, out.service(), policy, out.project_policy()))


def test_iam_check_off_is_serious() -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "True"
    assert codes(audit_service(TARGET, service, out.policy(), out.project_policy()))[0] == "serious:iam-check-off"


def test_no_runtime_account_means_the_compute_default_account_and_is_serious() -> None:
    service = out.service()
    del service["spec"]["template"]["spec"]["serviceAccountName"]
    assert codes(audit_service(TARGET, service, out.policy(), out.project_policy()))[0] == "serious:default-account"


def test_the_compute_default_account_named_explicitly_is_serious() -> None:
    service = out.service()
    service["spec"]["template"]["spec"]["serviceAccountName"] = "123456789012-compute@developer.gserviceaccount.com"
    serious = [f.code for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.serious]
    assert serious == ["default-account", "broad-project-role"]


def test_editor_on_the_project_for_the_runtime_account_is_serious() -> None:
    project = out.project_policy()
    project["bindings"].append({"members": [f"serviceAccount:{out.RUNTIME}"], "role": "roles/editor"})
    [finding] = [f for f in audit_service(TARGET, out.service(), out.policy(), project) if f.serious]
    assert finding.code == "broad-project-role" and "roles/editor" in finding.message


def test_an_unreadable_project_policy_is_a_warning_not_a_pass() -> None:
    assert "warning:project-policy-unread" in codes(audit_service(TARGET, out.service(), out.policy(), None))


def test_a_secret_passed_as_env_var_is_a_warning() -> None:
    service = out.service()
    out.container(service)["env"].append(
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "3", "name": "db-password"}}}
    )
    [finding] = [
        f for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.code == "secret-env"
    ]
    assert finding.severity == "warning" and "db-password" in finding.message and "DB_PASSWORD" in finding.message


def test_a_literal_password_in_an_env_var_is_a_warning_and_its_value_is_not_shown() -> None:
    service = out.service()
    out.container(service)["env"].append({"name": "DOCS_PASSWORD", "value": "hunter2"})
    findings = audit_service(TARGET, service, out.policy(), out.project_policy())
    assert "warning:literal-secret-env" in codes(findings)
    assert not any("hunter2" in f.line() for f in findings)


def test_internal_ingress_and_custom_audiences_are_reported() -> None:
    service = out.service()
    annotations = service["metadata"]["annotations"]
    annotations["run.googleapis.com/ingress"] = annotations["run.googleapis.com/ingress-status"] = "internal"
    annotations["run.googleapis.com/custom-audiences"] = '["https://api.example.com"]'
    findings = {f.code: f.message for f in audit_service(TARGET, service, out.policy(), out.project_policy())}
    assert findings["ingress"].startswith("ingress is internal")
    assert findings["custom-audiences"].endswith(": https://api.example.com")


def test_a_revision_that_is_not_ready_is_reported_with_its_message() -> None:
    service = out.service()
    service["status"]["conditions"][0] = {"status": "False", "type": "Ready", "message": "Container failed to start."}
    [finding] = [f for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.code == "not-ready"]
    assert finding.message.endswith("Container failed to start.")


def test_an_empty_policy_says_nobody_may_invoke() -> None:
    findings = audit_service(TARGET, out.service(), {"etag": "ACAB"}, out.project_policy())
    assert findings[0].message == "nobody holds roles/run.invoker on the service itself"
