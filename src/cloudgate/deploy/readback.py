"""Step 6: read the deployed service back and prove it is what was asked, whatever gcloud's exit codes said.

The read-back is the audit (``checks.CHECKS``) run with what the deploy asked for: a finding of a SERIOUS check
fails the deploy (``Severity.fails``), except the codes the user accepted explicitly
(``--allow-default-service-account`` accepts the Compute Engine default account and its Editor role).

Before any step, ``planted_secrets`` runs the ``literal-secret`` check on the service as observed: ``cloudgate
deploy`` never puts a literal secret there (``--env`` refuses one), so one that is there was set behind its back,
and a new revision would hide it without taking it back (``roles/run.viewer`` holders could read it, and its
revision still holds it). The deploy refuses, changing nothing, until it is removed. Pure.
"""

from __future__ import annotations

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import AuditInput
from cloudgate.deploy.checks import BY_CODE, run_checks
from cloudgate.deploy.findings import Finding, Target
from cloudgate.deploy.options import DeployOptions

#: Audit findings the read-back does not repeat as notes: its own ``revision-not-ready`` says it.
_QUIET = frozenset({"not-ready"})


def check_deployment(
    options: DeployOptions,
    service: spec.Json | None,
    policy: spec.Json,
    project_policy: spec.Json | None = None,
    iap_policy: spec.Json | None = None,
) -> tuple[list[Finding], list[Finding]]:
    """``(problems, notes)``: problems fail the deploy; notes are the audit's other findings."""
    if service is None:
        return [BY_CODE["service-missing"].finding("the service does not exist after the deploy")], []
    target = Target(options.service, options.project, options.region)
    findings = run_checks(AuditInput(target, service, policy, project_policy, asked=options, iap_policy=iap_policy))
    accepted = accepted_codes(options)
    problems = [f for f in findings if f.serious and f.code not in accepted]
    notes = [f for f in findings if not f.serious and f.code not in _QUIET]
    return problems, notes


def planted_secrets(options: DeployOptions, service: spec.Json | None) -> list[Finding]:
    """``literal-secret`` findings on the service as it stands before the deploy (none when it does not exist)."""
    if service is None:
        return []
    target = Target(options.service, options.project, options.region)
    return BY_CODE["literal-secret"].run(AuditInput(target, service, {}, None, asked=options))


def accepted_codes(options: DeployOptions) -> frozenset[str]:
    """Serious codes the user accepted with a flag, so the read-back does not fail on them."""
    if options.allow_default_service_account and options.account_is_compute_default:
        return frozenset({"default-account", "privileged-account"})
    return frozenset()
