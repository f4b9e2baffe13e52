"""What every audit check reads: one service as gcloud describes it, its IAM policy and the project's.

``AuditInput`` is parsed once and passed to each check of ``checks.CHECKS``; the checks never call gcloud.
``asked`` is set by the deploy's read-back only (what ``cloudgate deploy`` was asked for); plain ``cloudgate
audit`` leaves it ``None`` and the read-back's own checks find nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cloudgate.deploy import roles
from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.findings import Target
from cloudgate.deploy.options import DeployOptions

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
Level = Literal["service", "project"]


@dataclass(frozen=True)
class Grant:
    """``member`` holds ``role`` on the service itself or on the whole project."""

    member: str
    role: str
    level: Level


@dataclass(frozen=True)
class AuditInput:
    target: Target
    service: spec.Json
    policy: spec.Json
    #: ``None`` when the project's policy could not be read (the audit says so rather than passing).
    project_policy: spec.Json | None
    asked: DeployOptions | None = None
    #: Revisions other than the latest that traffic still reaches (``gcloud run revisions describe``), by name.
    older_revisions: Mapping[str, spec.Json] = field(default_factory=dict)
    #: The IAP policy (who may pass IAP), read for a service with IAP on; ``None``: not read, or unreadable.
    iap_policy: spec.Json | None = None

    @property
    def runtime_account(self) -> str | None:
        """The runtime account's email; ``None`` means Cloud Run's default (the Compute Engine default account)."""
        return spec.service_account(self.service)

    def grants(self, level: Level) -> list[Grant]:
        policy = self.policy if level == "service" else (self.project_policy or {})
        return [Grant(member, role, level) for role, member in spec.policy_bindings(policy)]

    def invoker_grants(self) -> list[Grant]:
        """Every grant that lets its member invoke the service: on the service, or inherited from the project."""
        levels: tuple[Level, ...] = ("service", "project")
        return [
            grant for level in levels for grant in self.grants(level) if roles.INVOKE in roles.permissions(grant.role)
        ]

    def runtime_grants(self) -> list[Grant]:
        """The runtime account's roles on the project (empty when the policy is unread or the account unset)."""
        account = self.runtime_account
        if account is None:
            return []
        return [grant for grant in self.grants("project") if grant.member == f"serviceAccount:{account}"]

    def fix_removing(self, grant: Grant) -> str:
        """The gcloud command that removes ``grant``."""
        member, role = f"--member={grant.member}", f"--role={grant.role}"
        if grant.level == "service":
            return f"gcloud run services remove-iam-policy-binding {self.target.where()} {member} {role}"
        return f"gcloud projects remove-iam-policy-binding {shlex.quote(self.target.project)} {member} {role}"
