"""Step 6: read the deployed service back and prove it is what was asked, whatever gcloud's exit codes said.

gcloud exits 0 in cases where removing ``allUsers`` failed or a binding was not stored (see CLOUD_RUN.md), so the
deploy trusts only what it reads afterwards. Pure: takes the JSON, returns problems (each with its fix).
"""

from __future__ import annotations

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit import Finding, Target, audit_service
from cloudgate.deploy.options import DeployOptions
from cloudgate.google import INVOKER_ROLE


def check_deployment(
    options: DeployOptions, service: spec.Json | None, policy: spec.Json
) -> tuple[list[Finding], list[Finding]]:
    """``(problems, notes)``: problems fail the deploy; notes are the audit's other findings."""
    target = Target(options.service, options.project, options.region)
    where = target.where()
    if service is None:
        return [Finding("serious", "missing", "the service does not exist after the deploy")], []
    findings = audit_service(target, service, policy, project_policy={})
    problems = [f for f in findings if f.serious and not _allowed(options, f)]
    notes = [f for f in findings if not f.serious and f.code not in ("not-ready", "project-policy-unread")]
    members = spec.policy_members(policy, INVOKER_ROLE)
    for member in options.invokers:
        if member not in members:
            problems.append(
                Finding(
                    "serious",
                    "missing-invoker",
                    f"{member} does not hold {INVOKER_ROLE}",
                    f"gcloud run services add-iam-policy-binding {where} --member={member} --role={INVOKER_ROLE}",
                )
            )
    for member in sorted(members - set(options.invokers) - {"allUsers", "allAuthenticatedUsers"}):
        problems.append(
            Finding(
                "serious",
                "unnamed-invoker",
                f"{member} holds {INVOKER_ROLE} but was not named with --invoker",
                f"gcloud run services remove-iam-policy-binding {where} --member={member} --role={INVOKER_ROLE}",
            )
        )
    reason = spec.not_ready_reason(service)
    if reason is not None:
        problems.append(
            Finding(
                "serious",
                "not-ready",
                f"the latest revision is not ready: {reason}",
                f"gcloud run services describe {where}  (and the revision's logs)",
            )
        )
    for ref in spec.secret_refs(service):
        if ref.env is not None and ref.secret in {name for name, _path, _mount in options.secrets}:
            problems.append(
                Finding(
                    "serious",
                    "secret-as-env",
                    f"secret {ref.secret} arrived as env var {ref.env}, not as a file",
                    "run cloudgate deploy again (it mounts secrets as files)",
                )
            )
    if spec.service_account(service) != options.runtime_account:
        problems.append(
            Finding(
                "serious",
                "wrong-account",
                f"runtime account is {spec.service_account(service)}, not {options.runtime_account}",
                "run cloudgate deploy again",
            )
        )
    return problems, notes


def _allowed(options: DeployOptions, finding: Finding) -> bool:
    """The Compute default account is a finding unless the user asked for it explicitly."""
    return finding.code == "default-account" and options.allow_default_service_account
