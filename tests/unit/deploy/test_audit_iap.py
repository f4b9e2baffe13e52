"""IAP directly on the service in the audit and the deploy's read-back, on JSON shaped like gcloud's
(``run services describe``, ``run services get-iam-policy``, ``beta iap web get-iam-policy --resource-type=cloud-run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudgate.deploy.audit import Finding, Target, audit_service
from cloudgate.deploy.options import DeployOptions
from cloudgate.deploy.readback import check_deployment
from tests.unit.deploy import gcloud_output as out

TARGET = Target(out.SERVICE, out.PROJECT, out.REGION)
ACCESSOR = "roles/iap.httpsResourceAccessor"
ALICE = "user:alice@example.com"
ETL = "serviceAccount:etl@my-proj.iam.gserviceaccount.com"
NUMBER = "123456789012"
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-iap.iam.gserviceaccount.com"
AUDIENCE = f"/projects/{NUMBER}/locations/{out.REGION}/services/{out.SERVICE}"
IAP_WHERE = "--resource-type=cloud-run --service=api --project=my-proj --region=europe-west1"


def with_iap(service: dict[str, Any]) -> dict[str, Any]:
    service["metadata"]["annotations"]["run.googleapis.com/iap-enabled"] = "true"
    return service


def iap_policy(*members: str) -> dict[str, Any]:
    """``gcloud beta iap web get-iam-policy --format=json`` of a service's IAP resource."""
    return {"bindings": [{"members": list(members), "role": ACCESSOR}], "etag": "BwYx", "version": 1}


def audit(service: dict[str, Any], accessors: dict[str, Any] | None) -> list[Finding]:
    return audit_service(TARGET, service, out.policy(), out.project_policy(), iap_policy=accessors)


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def test_iap_off_is_reported() -> None:
    [finding] = by_code(audit(out.service(), None), "iap")
    assert finding.message.startswith("IAP is off")


def test_iap_on_is_reported() -> None:
    [finding] = by_code(audit(with_iap(out.service()), iap_policy(ALICE)), "iap")
    assert finding.message.startswith("IAP is on")


def test_who_may_pass_iap_is_listed() -> None:
    [finding] = by_code(audit(with_iap(out.service()), iap_policy(ALICE, "group:team@example.com")), "iap-accessors")
    assert finding.message.endswith("group:team@example.com, user:alice@example.com")
    assert not finding.serious


def test_an_unreadable_iap_policy_says_so_with_the_command_to_read_it() -> None:
    [finding] = by_code(audit(with_iap(out.service()), None), "iap-accessors")
    assert "could not be read" in finding.message
    assert finding.fix == f"gcloud beta iap web get-iam-policy {IAP_WHERE}"


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_anyone_may_pass_iap_is_serious_with_the_command_that_fixes_it(member: str) -> None:
    [finding] = [f for f in audit(with_iap(out.service()), iap_policy(ALICE, member)) if f.serious]
    assert finding.code == "public-iap-accessor"
    assert (
        finding.fix == f"gcloud beta iap web remove-iam-policy-binding {IAP_WHERE} --member={member} --role={ACCESSOR}"
    )


def test_public_accessors_of_iap_that_is_off_are_not_serious() -> None:
    """IAP off: its policy is not what lets anyone in (the invoker policy is, and has its own check)."""
    assert [f for f in audit(out.service(), iap_policy("allUsers")) if f.serious] == []


def test_the_sarif_rules_include_the_iap_checks() -> None:
    from cloudgate.deploy.sarif import sarif_log

    log = sarif_log([(TARGET, audit(with_iap(out.service()), iap_policy("allUsers")))], "0")
    rules = {rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"iap", "iap-accessors", "public-iap-accessor"} <= rules


# The deploy's read-back of --iap


@pytest.fixture
def asked(tmp_path: Path) -> DeployOptions:
    (tmp_path / "users.txt").write_text("alice:hash\n")
    (tmp_path / "keys.json").write_text('{"keys": []}\n')
    return DeployOptions(
        project=out.PROJECT, region=out.REGION, service=out.SERVICE, image=out.IMAGE, invokers=(ETL,),
        docs_users_file=tmp_path / "users.txt", keys_file=tmp_path / "keys.json",
        iap=True, iap_members=(ALICE,), project_number=NUMBER,
    )  # fmt: skip


def invoker_policy(*members: str) -> dict[str, Any]:
    return {"bindings": [{"members": list(members), "role": "roles/run.invoker"}], "etag": "BwX", "version": 1}


def problems(options: DeployOptions, service: dict[str, Any], policy: dict[str, Any], iap: dict[str, Any]) -> list[str]:
    found, _notes = check_deployment(options, service, policy, out.project_policy(), iap)
    return [f"{p.code}: {p.message}" for p in found]


def test_read_back_accepts_iap_as_asked(asked: DeployOptions) -> None:
    assert problems(asked, with_iap(out.service()), invoker_policy(ETL, AGENT), iap_policy(ALICE)) == []


def test_read_back_fails_when_iap_is_off(asked: DeployOptions) -> None:
    found = problems(asked, out.service(), invoker_policy(ETL, AGENT), iap_policy(ALICE))
    assert found == ["iap-state: IAP is off, but the deploy asked for --iap"]


def test_read_back_fails_when_iap_s_agent_is_not_an_invoker(asked: DeployOptions) -> None:
    found = problems(asked, with_iap(out.service()), invoker_policy(ETL), iap_policy(ALICE))
    assert found == [f"missing-invoker: {AGENT} does not hold roles/run.invoker"]


def test_read_back_fails_when_a_named_member_may_not_pass(asked: DeployOptions) -> None:
    found = problems(asked, with_iap(out.service()), invoker_policy(ETL, AGENT), iap_policy())
    assert found == [f"missing-iap-accessor: {ALICE} does not hold {ACCESSOR}"]


def test_read_back_fails_when_someone_unnamed_may_pass(asked: DeployOptions) -> None:
    found = problems(asked, with_iap(out.service()), invoker_policy(ETL, AGENT), iap_policy(ALICE, "user:eve@x.com"))
    assert found == [f"unnamed-iap-accessor: user:eve@x.com holds {ACCESSOR} but was not named with --iap-member"]


def test_read_back_without_iap_fails_when_iap_is_on(asked: DeployOptions) -> None:
    options = DeployOptions(**{**asked.__dict__, "iap": False, "iap_members": (), "project_number": None})
    found = problems(options, with_iap(out.service()), invoker_policy(ETL), {})
    assert found == ["iap-state: IAP is on, but the deploy asked for --no-iap"]
