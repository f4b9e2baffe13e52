"""``audit_service`` on JSON shaped exactly like gcloud's: who may invoke, the IAM check, ingress, audiences."""

from __future__ import annotations

from typing import Any

from cloudgate.deploy.audit import Finding, Target, audit_service
from tests.unit.deploy import gcloud_output as out

TARGET = Target(out.SERVICE, out.PROJECT, out.REGION)


def codes(findings: list[Finding]) -> list[str]:
    return [f"{f.severity}:{f.code}" for f in findings]


def audit(
    service: dict[str, Any] | None = None, policy: dict[str, Any] | None = None, project: dict[str, Any] | None = None
) -> list[Finding]:
    """The fixture's service, policy and project policy, unless given."""
    return audit_service(TARGET, service or out.service(), policy or out.policy(), project or out.project_policy())


def with_binding(policy: dict[str, Any], member: str, role: str) -> dict[str, Any]:
    policy.setdefault("bindings", []).append({"members": [member], "role": role})
    return policy


def test_a_private_service_with_a_dedicated_account_has_no_serious_finding() -> None:
    assert [f for f in audit() if f.serious] == []


def test_all_users_as_invoker_is_serious_with_the_command_that_fixes_it() -> None:
    [finding] = [f for f in audit(policy=with_binding(out.policy(), "allUsers", "roles/run.invoker")) if f.serious]
    assert finding.code == "public-invoker"
    assert finding.fix == (
        "gcloud run services remove-iam-policy-binding api --project=my-proj --region=europe-west1 "
        "--member=allUsers --role=roles/run.invoker"
    )


def test_all_authenticated_users_is_public_too() -> None:
    policy = with_binding(out.policy(), "allAuthenticatedUsers", "roles/run.invoker")
    assert "serious:public-invoker" in codes(audit(policy=policy))


def test_a_domain_invoker_is_serious() -> None:
    [finding] = [f for f in audit(policy=with_binding(out.policy(), "domain:example.com", "roles/run.invoker"))
                 if f.serious]  # fmt: skip
    assert finding.code == "domain-invoker" and "every account of the example.com domain" in finding.message


def test_a_group_invoker_is_a_warning() -> None:
    findings = audit(policy=with_binding(out.policy(), "group:ops@example.com", "roles/run.invoker"))
    assert "warning:group-invoker" in codes(findings) and not any(f.serious for f in findings)


def test_a_whole_workload_identity_pool_as_invoker_is_a_warning() -> None:
    pool = "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci/*"
    findings = audit(policy=with_binding(out.policy(), pool, "roles/run.invoker"))
    assert "warning:pool-invoker" in codes(findings) and not any(f.serious for f in findings)


def test_a_project_level_invoker_may_invoke_by_inheritance() -> None:
    member = "serviceAccount:batch@my-proj.iam.gserviceaccount.com"
    project = with_binding(out.project_policy(), member, "roles/run.invoker")
    [finding] = [f for f in audit(project=project) if f.code == "inherited-invoker" and member in f.message]
    assert finding.severity == "warning"
    assert finding.fix is not None and finding.fix.startswith(
        f"gcloud projects remove-iam-policy-binding my-proj --member={member} --role=roles/run.invoker"
    )


def test_the_compute_default_account_with_editor_may_invoke_by_inheritance() -> None:
    # The fixture's project policy: Compute default account with Editor, which holds run.routes.invoke.
    [finding] = [f for f in audit() if f.code == "inherited-invoker"]
    assert finding.message.startswith("serviceAccount:123456789012-compute@developer.gserviceaccount.com may invoke")


def test_a_domain_with_editor_on_the_project_is_a_serious_invoker() -> None:
    project = with_binding(out.project_policy(), "domain:example.com", "roles/editor")
    [finding] = [f for f in audit(project=project) if f.code == "domain-invoker"]
    assert finding.serious and "inherited by every service" in finding.message


def test_a_cloud_run_developer_on_the_project_is_an_inherited_invoker() -> None:
    project = with_binding(
        out.project_policy(), "serviceAccount:ci@my-proj.iam.gserviceaccount.com", "roles/run.developer"
    )
    assert any("ci@my-proj" in f.message for f in audit(project=project) if f.code == "inherited-invoker")


def test_project_owners_are_listed_as_invokers_by_inheritance_not_warned_about() -> None:
    [info] = [f for f in audit() if f.code == "invokers"]
    assert info.message == (
        "may invoke: serviceAccount:etl@my-proj.iam.gserviceaccount.com; "
        "by inheritance from the project: user:me@example.com (roles/owner)"
    )
    assert not any("user:me@example.com" in f.message for f in audit() if f.code == "inherited-invoker")


def test_an_empty_policy_and_project_say_nobody_may_invoke() -> None:
    [info] = [f for f in audit(policy={"etag": "ACAB"}, project={"etag": "x"}) if f.code == "invokers"]
    assert info.message == "nobody holds run.routes.invoke on the service, nor on the project"


def test_iam_check_off_is_serious() -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "True"
    assert codes(audit(service))[0] == "serious:iam-check-off"


def test_ingress_all_with_the_iam_check_off_does_not_claim_the_check_applies() -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "True"
    [ingress] = [f for f in audit(service) if f.code == "ingress"]
    assert ingress.message == "ingress is all: reachable from the internet, with no IAM check: anyone"


def test_ingress_through_load_balancers_says_an_external_one_can_expose_it() -> None:
    service = out.service()
    annotations = service["metadata"]["annotations"]
    annotations["run.googleapis.com/ingress"] = "internal-and-cloud-load-balancing"
    annotations["run.googleapis.com/ingress-status"] = "internal-and-cloud-load-balancing"
    [ingress] = [f for f in audit(service) if f.code == "ingress"]
    assert "an external Application Load Balancer can expose it to the internet" in ingress.message


def test_custom_audiences_are_reported() -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/custom-audiences"] = '["https://api.example.com"]'
    [finding] = [f for f in audit(service) if f.code == "custom-audiences"]
    assert finding.message.endswith(": https://api.example.com")


def test_a_revision_that_is_not_ready_is_reported_with_its_message() -> None:
    service = out.service()
    service["status"]["conditions"][0] = {"status": "False", "type": "Ready", "message": "Container failed to start."}
    [finding] = [f for f in audit(service) if f.code == "not-ready"]
    assert finding.message.endswith("Container failed to start.")
