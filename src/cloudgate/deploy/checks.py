"""Every audit check, as one table: ``cloudgate audit``, its ``--help``, docs/cli.md, the SARIF rules and the
deploy's read-back all derive from ``CHECKS``.

Adding a check is one row here (code, severity, what it means, how to fix, the function) plus its test. A
SERIOUS check fails ``cloudgate audit`` (exit 1) and the deploy's read-back (``Severity.fails``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cloudgate.deploy import checks_access as access
from cloudgate.deploy import checks_config as config
from cloudgate.deploy import checks_iap as iap
from cloudgate.deploy import checks_identity as identity
from cloudgate.deploy import checks_readback as readback
from cloudgate.deploy.audit_input import AuditInput
from cloudgate.deploy.findings import Finding, Issue, Severity

SERIOUS, WARNING, INFO = Severity.SERIOUS, Severity.WARNING, Severity.INFO


@dataclass(frozen=True)
class Check:
    code: str
    severity: Severity
    #: What a finding of this check means (one sentence: help, docs, SARIF ``shortDescription``).
    summary: str
    #: How to fix it in general (SARIF ``help``); each finding also carries its own command.
    remedy: str
    fn: Callable[[AuditInput], Iterable[Issue]]
    #: Only the deploy's read-back runs it (it compares with what the deploy asked for).
    readback_only: bool = False

    def run(self, given: AuditInput) -> list[Finding]:
        return [Finding(self.severity, self.code, issue.message, issue.fix) for issue in self.fn(given)]

    def finding(self, message: str, fix: str | None = None) -> Finding:
        return Finding(self.severity, self.code, message, fix)


CHECKS: tuple[Check, ...] = (
    Check("public-invoker", SERIOUS, "allUsers or allAuthenticatedUsers may invoke the service (on it or on the "
          "project).", "Remove the binding; name the callers with --invoker.", access.public_invokers),
    Check("domain-invoker", SERIOUS, "A domain: member may invoke: every account of that domain can call it.",
          "Remove the binding; grant the accounts or a group that need it.", access.domain_invokers),
    Check("iam-check-off", SERIOUS, "The invoker IAM check is off: requests reach the container unchecked.",
          "gcloud run services update SERVICE --invoker-iam-check.", access.iam_check_off),
    Check("default-account", SERIOUS, "The runtime account is one of Google's default accounts (Compute Engine, "
          "App Engine, Google APIs agent, legacy Cloud Build), which hold broad roles.",
          "Create a dedicated account with no project roles and deploy with --service-account.",
          identity.default_account),
    Check("privileged-account", SERIOUS, "The runtime account's project roles let its code grant roles, mint "
          "tokens or keys for other accounts, or act as them.",
          "Remove the role; grant narrow roles on the resources the code uses.", identity.privileged_account),
    Check("literal-secret", SERIOUS, "An env value or argument of a container is a secret by its value (provider "
          "key, private key, JWT, password in a URL or connection string, high-entropy token, cloudgate key or "
          "argon2 hash) or a literal in a variable named like a secret.",
          "Store it in Secret Manager and mount it as a file; remove the env var.", config.literal_secrets),
    Check("public-iap-accessor", SERIOUS, "IAP is on and allUsers or allAuthenticatedUsers may pass it: anyone "
          "(with a Google account) reaches the service.", "Remove the binding; name people with --iap-member.",
          iap.public_iap_accessors),
    Check("older-revision-secret", SERIOUS, "A revision other than the latest still reached by traffic or a tag "
          "holds a literal secret (found as literal-secret finds one).",
          "Rotate it, move the traffic and tags off the revision, delete it.",
          config.literal_secrets_in_older_revisions),
    Check("pool-invoker", WARNING, "A whole workload identity pool (principalSet://.../*) may invoke: every "
          "identity its providers accept.", "Name an attribute of the pool (a repository) instead.",
          access.pool_invokers),
    Check("group-invoker", WARNING, "A group: member may invoke: whoever manages the group decides who can call.",
          "Check who may add members to the group.", access.group_invokers),
    Check("inherited-invoker", WARNING, "A principal holds an invoker role on the project and may invoke every "
          "service in it.", "Remove the project binding; grant roles/run.invoker on the services it calls.",
          access.inherited_invokers),
    Check("project-policy-unread", WARNING, "The project's IAM policy could not be read: inherited invokers and "
          "the runtime account's roles are unchecked.", "Audit with roles/iam.securityReviewer on the project.",
          identity.project_policy_unread),
    Check("secret-env", WARNING, "A Secret Manager secret arrives as an env var: read once at start, so "
          "rotation needs a redeploy.", "Mount it as a file (--set-secrets=/secrets/NAME/value=NAME:latest).",
          config.secrets_as_env),
    Check("not-ready", WARNING, "The latest revision is not ready (the previous one may still serve).",
          "Read the revision's conditions and logs.", config.not_ready),
    Check("invokers", INFO, "Who may invoke: members on the service, and people with Owner/Editor on the "
          "project.", "Nothing to fix: check that the list is what you expect.", access.invokers),
    Check("runtime-roles", INFO, "Project roles of the runtime account that this audit does not judge (custom "
          "or other services' roles).", "Check what each role allows.", identity.runtime_roles),
    Check("ingress", INFO, "Where requests may come from (all, internal, internal-and-cloud-load-balancing).",
          "Nothing to fix: check that it is what you expect.", access.ingress),
    Check("iap", INFO, "Whether Identity-Aware Proxy is on the service (people sign in with Google).",
          "Nothing to fix: check that it is what you expect.", iap.iap_state),
    Check("iap-accessors", INFO, "With IAP on: who may pass it (roles/iap.httpsResourceAccessor).",
          "Nothing to fix: check that the list is what you expect.", iap.iap_accessors),
    Check("custom-audiences", INFO, "ID tokens for these extra audiences are accepted too.",
          "Nothing to fix: an audience shared by services makes one token valid on all.", config.custom_audiences),
    Check("service-missing", SERIOUS, "Read-back: the service does not exist after the deploy.",
          "Run cloudgate deploy again and read its error.", readback.service_missing, readback_only=True),
    Check("missing-invoker", SERIOUS, "Read-back: a member named with --invoker does not hold roles/run.invoker.",
          "Run cloudgate deploy again, or add the binding.", readback.missing_invokers, readback_only=True),
    Check("unnamed-invoker", SERIOUS, "Read-back: a member holds roles/run.invoker but was not named with "
          "--invoker.", "Remove the binding, or name the member.", readback.unnamed_invokers, readback_only=True),
    Check("revision-not-ready", SERIOUS, "Read-back: the deployed revision is not ready.",
          "Read the revision's conditions and logs.", readback.revision_not_ready, readback_only=True),
    Check("secret-as-env", SERIOUS, "Read-back: a secret the deploy mounts as a file arrived as an env var.",
          "Run cloudgate deploy again.", readback.secret_as_env, readback_only=True),
    Check("iap-state", SERIOUS, "Read-back: IAP is not on (or off) as --iap asked.",
          "Run cloudgate deploy again.", iap.iap_not_on, readback_only=True),
    Check("missing-iap-accessor", SERIOUS, "Read-back: a member named with --iap-member may not pass IAP.",
          "Run cloudgate deploy again, or add the binding.", iap.missing_iap_accessors, readback_only=True),
    Check("unnamed-iap-accessor", SERIOUS, "Read-back: a member may pass IAP but was not named with --iap-member.",
          "Remove the binding, or name the member.", iap.unnamed_iap_accessors, readback_only=True),
    Check("traffic-not-latest", SERIOUS, "Read-back: traffic is pinned to older revisions, not the deployed one.",
          "Run cloudgate deploy again, or move the traffic to the latest revision.", readback.traffic_not_latest,
          readback_only=True),
    Check("wrong-account", SERIOUS, "Read-back: the runtime account is not the one the deploy asked for.",
          "Run cloudgate deploy again.", readback.wrong_account, readback_only=True),
)  # fmt: skip

BY_CODE: dict[str, Check] = {check.code: check for check in CHECKS}


def run_checks(given: AuditInput) -> list[Finding]:
    """Every finding of every check (the read-back's own only when ``given.asked`` is set), serious first."""
    findings = [finding for check in CHECKS for finding in check.run(given)]
    return sorted(findings, key=lambda f: f.severity.rank)


def help_lines() -> list[str]:
    """The checks as ``--help`` shows them: one line each, in the table's order."""
    return [f"{check.code} ({check.severity}): {check.summary}" for check in CHECKS if not check.readback_only]
