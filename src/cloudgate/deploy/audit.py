"""``cloudgate audit``: what a Cloud Run service's description and IAM policies say about who can reach it.

Pure: it reads the JSON gcloud prints (``run services describe``, ``run services get-iam-policy``,
``projects get-iam-policy``) and returns findings. Works on any service, not only those cloudgate deployed.

Example::

    findings = audit_service(service_json, policy_json, project_policy_json)
    serious = [f for f in findings if f.serious]
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from cloudgate.deploy import service_spec as spec
from cloudgate.google import INVOKER_ROLE

SERIOUS, WARNING, INFO = "serious", "warning", "info"
_PUBLIC = ("allUsers", "allAuthenticatedUsers")
_BROAD_ROLES = ("roles/owner", "roles/editor")
_COMPUTE_DEFAULT = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|CREDENTIALS)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One thing worth knowing; ``fix`` is a command (or advice) that resolves it."""

    severity: str
    code: str
    message: str
    fix: str | None = None

    @property
    def serious(self) -> bool:
        return self.severity == SERIOUS

    def line(self) -> str:
        text = f"{self.severity.upper():8} {self.code}: {self.message}"
        return f"{text}\n         fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """Where the service lives, for the fix commands."""

    service: str
    project: str
    region: str

    def where(self) -> str:
        return f"{shlex.quote(self.service)} --project={shlex.quote(self.project)} --region={shlex.quote(self.region)}"


def audit_service(
    target: Target, service: spec.Json, policy: spec.Json, project_policy: spec.Json | None
) -> list[Finding]:
    """Every finding, serious ones first. ``project_policy`` is ``None`` when it could not be read."""
    findings = [
        *_invokers(target, policy),
        *_iam_check(target, service),
        *_runtime_account(target, service, project_policy),
        *_secrets(service),
        *_ingress(service),
        *_audiences(service),
        *_readiness(service),
    ]
    order = {SERIOUS: 0, WARNING: 1, INFO: 2}
    return sorted(findings, key=lambda f: order[f.severity])


def _invokers(target: Target, policy: spec.Json) -> list[Finding]:
    members = spec.policy_members(policy, INVOKER_ROLE)
    found = []
    for member in sorted(m for m in members if m in _PUBLIC):
        who = "anyone on the internet" if member == "allUsers" else "anyone with a Google account"
        found.append(
            Finding(
                SERIOUS,
                "public-invoker",
                f"{member} holds {INVOKER_ROLE}: {who} can call the service",
                f"gcloud run services remove-iam-policy-binding {target.where()} --member={member} --role={INVOKER_ROLE}",
            )
        )
    named = sorted(members - set(_PUBLIC))
    if named:
        found.append(Finding(INFO, "invokers", "may invoke: " + ", ".join(named)))
    elif not found:
        found.append(Finding(INFO, "invokers", f"nobody holds {INVOKER_ROLE} on the service itself"))
    return found


def _iam_check(target: Target, service: spec.Json) -> list[Finding]:
    if not spec.iam_check_disabled(service):
        return []
    return [
        Finding(
            SERIOUS,
            "iam-check-off",
            "the invoker IAM check is off: every request reaches the container unchecked",
            f"gcloud run services update {target.where()} --invoker-iam-check",
        )
    ]


def _runtime_account(target: Target, service: spec.Json, project_policy: spec.Json | None) -> list[Finding]:
    account = spec.service_account(service)
    found = []
    if account is None or _COMPUTE_DEFAULT.match(account):
        shown = account or "not set, so the Compute Engine default account"
        found.append(
            Finding(
                SERIOUS,
                "default-account",
                f"runtime account is {shown}, which holds the project's Editor role by default",
                f"gcloud iam service-accounts create {target.service}-runtime --project={target.project}; then "
                f"gcloud run services update {target.where()} --service-account="
                f"{target.service}-runtime@{target.project}.iam.gserviceaccount.com",
            )
        )
    if project_policy is None:
        found.append(
            Finding(
                WARNING, "project-policy-unread", "could not read the project's IAM policy; project roles unchecked"
            )
        )
    elif account is not None:
        member = f"serviceAccount:{account}"
        for role in _BROAD_ROLES:
            if member in spec.policy_members(project_policy, role):
                found.append(
                    Finding(
                        SERIOUS,
                        "broad-project-role",
                        f"runtime account {account} holds {role} on the project: the code can change anything in it",
                        f"gcloud projects remove-iam-policy-binding {target.project} --member={member} --role={role}",
                    )
                )
    return found


def _secrets(service: spec.Json) -> list[Finding]:
    found = []
    for ref in spec.secret_refs(service):
        if ref.env is not None:
            found.append(
                Finding(
                    WARNING,
                    "secret-env",
                    f"secret {ref.secret} arrives as env var {ref.env} (read once at start: rotation needs a redeploy)",
                    f"mount it as a file instead: --set-secrets=/secrets/{ref.secret}/value={ref.secret}:latest",
                )
            )
    for name, value in sorted(spec.plain_env(service).items()):
        if value and _SECRET_NAME.search(name) and not name.endswith(("_FILE", "_PATH", "_HEADER")):
            found.append(
                Finding(
                    WARNING,
                    "literal-secret-env",
                    f"env var {name} holds a literal value and looks like a secret (visible to anyone who can "
                    "describe the service)",
                    "store it in Secret Manager and mount it as a file",
                )
            )
    return found


def _ingress(service: spec.Json) -> list[Finding]:
    value = spec.ingress(service)
    reach = "the internet (the IAM check still applies)" if value == "all" else "internal traffic only"
    return [Finding(INFO, "ingress", f"ingress is {value}: reachable from {reach}")]


def _audiences(service: spec.Json) -> list[Finding]:
    audiences = spec.custom_audiences(service)
    if not audiences:
        return []
    return [
        Finding(
            INFO,
            "custom-audiences",
            "ID tokens minted for these audiences are accepted too (a token for one is valid on every service "
            "sharing it): " + ", ".join(audiences),
        )
    ]


def _readiness(service: spec.Json) -> list[Finding]:
    reason = spec.not_ready_reason(service)
    if reason is None:
        return []
    return [Finding(WARNING, "not-ready", f"the latest revision is not ready: {reason}")]
