"""``cloudgate audit``: what a Cloud Run service's description and IAM policies say about who can reach it.

Pure: it reads the JSON gcloud prints (``run services describe``, ``run services get-iam-policy``,
``projects get-iam-policy``, and ``beta iap web get-iam-policy`` for a service with IAP on) and runs every check of ``checks.CHECKS`` on it. Works on any service, not only
those cloudgate deployed.

Example::

    findings = audit_service(Target("api", "my-proj", "europe-west1"), service_json, policy_json, project_json)
    failed = any(f.serious for f in findings)
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import AuditInput
from cloudgate.deploy.checks import run_checks
from cloudgate.deploy.findings import Finding, Severity, Target

__all__ = ["Finding", "Severity", "Target", "audit_service"]


def audit_service(
    target: Target,
    service: spec.Json,
    policy: spec.Json,
    project_policy: spec.Json | None,
    older_revisions: Sequence[spec.Json] = (),
    iap_policy: spec.Json | None = None,
) -> list[Finding]:
    """Every finding, serious ones first. ``project_policy`` is ``None`` when it could not be read;
    ``older_revisions`` are the described revisions other than the latest that traffic still reaches; ``iap_policy``
    (``gcloud beta iap web get-iam-policy``) is read for a service with IAP on, ``None`` when unreadable."""
    revisions = {spec.name(revision): revision for revision in older_revisions}
    return run_checks(
        AuditInput(target, service, policy, project_policy, older_revisions=revisions, iap_policy=iap_policy)
    )
