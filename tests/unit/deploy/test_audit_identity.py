"""The runtime account judged by what its project roles allow, and Google's default accounts, on gcloud's JSON."""

from __future__ import annotations

import pytest

from cloudgate.deploy.audit import Finding, Target, audit_service
from tests.unit.deploy import gcloud_output as out

TARGET = Target(out.SERVICE, out.PROJECT, out.REGION)
RUNTIME_MEMBER = f"serviceAccount:{out.RUNTIME}"


def audit_with_runtime_role(role: str) -> list[Finding]:
    project = out.project_policy()
    project["bindings"].append({"members": [RUNTIME_MEMBER], "role": role})
    return audit_service(TARGET, out.service(), out.policy(), project)


def test_no_runtime_account_means_the_compute_default_account_and_is_serious() -> None:
    service = out.service()
    del service["spec"]["template"]["spec"]["serviceAccountName"]
    [finding] = [f for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.serious]
    assert finding.code == "default-account" and "Compute Engine default account" in finding.message


@pytest.mark.parametrize(
    ("account", "what"),
    [
        ("123456789012-compute@developer.gserviceaccount.com", "Compute Engine default"),
        ("my-proj@appspot.gserviceaccount.com", "App Engine default"),
        ("123456789012@cloudservices.gserviceaccount.com", "Google APIs service agent"),
        ("123456789012@cloudbuild.gserviceaccount.com", "legacy Cloud Build"),
    ],
)
def test_every_default_account_google_creates_is_serious(account: str, what: str) -> None:
    service = out.service()
    service["spec"]["template"]["spec"]["serviceAccountName"] = account
    [finding] = [f for f in audit_service(TARGET, service, out.policy(), {}) if f.code == "default-account"]
    assert finding.serious and what in finding.message
    assert finding.fix == (
        "gcloud iam service-accounts create api-runtime --project=my-proj && gcloud run services update api "
        "--project=my-proj --region=europe-west1 --service-account=api-runtime@my-proj.iam.gserviceaccount.com"
    )


def test_the_compute_default_account_with_editor_is_default_and_privileged() -> None:
    service = out.service()
    service["spec"]["template"]["spec"]["serviceAccountName"] = "123456789012-compute@developer.gserviceaccount.com"
    serious = [f.code for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.serious]
    assert serious == ["default-account", "privileged-account"]


@pytest.mark.parametrize(
    ("role", "allows"),
    [
        ("roles/owner", "grant itself any role in the project"),
        ("roles/editor", "mint tokens or keys for other service accounts"),
        ("roles/resourcemanager.projectIamAdmin", "grant itself any role in the project"),
        ("roles/iam.securityAdmin", "grant roles on service accounts"),
        ("roles/iam.serviceAccountTokenCreator", "mint tokens or keys for other service accounts"),
        ("roles/iam.serviceAccountKeyAdmin", "mint tokens or keys for other service accounts"),
        ("roles/iam.serviceAccountUser", "act as other service accounts"),
        ("roles/iam.workloadIdentityUser", "mint tokens or keys for other service accounts"),
        ("roles/run.admin", "make Cloud Run services public"),
    ],
)
def test_a_runtime_role_that_escalates_is_serious_and_says_what_it_allows(role: str, allows: str) -> None:
    [finding] = [f for f in audit_with_runtime_role(role) if f.code == "privileged-account"]
    assert finding.serious and allows in finding.message and role in finding.message
    assert finding.fix == f"gcloud projects remove-iam-policy-binding my-proj --member={RUNTIME_MEMBER} --role={role}"


def test_a_project_invoker_runtime_account_is_an_inherited_invoker_not_privileged() -> None:
    findings = audit_with_runtime_role("roles/run.invoker")
    assert not any(f.code == "privileged-account" for f in findings)
    assert any(RUNTIME_MEMBER in f.message for f in findings if f.code == "inherited-invoker")


def test_a_custom_role_is_named_for_a_person_to_judge() -> None:
    [finding] = [f for f in audit_with_runtime_role("projects/my-proj/roles/deployer") if f.code == "runtime-roles"]
    assert finding.severity == "info" and finding.message.endswith("projects/my-proj/roles/deployer")


def test_a_predefined_role_outside_the_table_is_named_not_judged() -> None:
    findings = audit_with_runtime_role("roles/run.viewer")
    assert [f.code for f in findings if f.code in ("privileged-account", "runtime-roles")] == ["runtime-roles"]


def test_an_unreadable_project_policy_is_a_warning_not_a_pass() -> None:
    findings = audit_service(TARGET, out.service(), out.policy(), None)
    assert [f.code for f in findings if f.severity == "warning"] == ["project-policy-unread"]
