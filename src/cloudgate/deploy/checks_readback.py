"""Checks that compare the deployed service with what ``cloudgate deploy`` asked for (``AuditInput.asked``).

Plain ``cloudgate audit`` has no ``asked``: these find nothing there. gcloud exits 0 where removing ``allUsers``
failed or a binding was not stored (shared/CLOUD_RUN.md), so the deploy trusts only what it reads afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import PUBLIC_MEMBERS, AuditInput
from cloudgate.deploy.findings import Issue
from cloudgate.google import INVOKER_ROLE


def service_missing(given: AuditInput) -> Iterator[Issue]:
    """Raised by the read-back itself (``readback.check_deployment``) when describe finds no service."""
    return iter(())


def missing_invokers(given: AuditInput) -> Iterator[Issue]:
    if given.asked is None:
        return
    members = spec.policy_members(given.policy, INVOKER_ROLE)
    for member in given.asked.invoker_members:  # IAP's service agent too, with --iap
        if member not in members:
            yield Issue(
                f"{member} does not hold {INVOKER_ROLE}",
                f"gcloud run services add-iam-policy-binding {given.target.where()} --member={member} "
                f"--role={INVOKER_ROLE}",
            )


def unnamed_invokers(given: AuditInput) -> Iterator[Issue]:
    if given.asked is None:
        return
    members = spec.policy_members(given.policy, INVOKER_ROLE)
    for member in sorted(members - set(given.asked.invoker_members) - set(PUBLIC_MEMBERS)):
        yield Issue(
            f"{member} holds {INVOKER_ROLE} but was not named with --invoker",
            f"gcloud run services remove-iam-policy-binding {given.target.where()} --member={member} "
            f"--role={INVOKER_ROLE}",
        )


def revision_not_ready(given: AuditInput) -> Iterator[Issue]:
    reason = spec.not_ready_reason(given.service)
    if given.asked is not None and reason is not None:
        yield Issue(
            f"the deployed revision is not ready: {reason}", f"gcloud run services describe {given.target.where()}"
        )


def secret_as_env(given: AuditInput) -> Iterator[Issue]:
    if given.asked is None:
        return
    ours = {name for name, _path, _mount in given.asked.secrets}
    for ref in spec.secret_refs(given.service):
        if ref.env is not None and ref.secret in ours:
            yield Issue(f"secret {ref.secret} arrived as env var {ref.env}, not as a file (deploy again: files)")


def wrong_account(given: AuditInput) -> Iterator[Issue]:
    if given.asked is not None and given.runtime_account != given.asked.runtime_account:
        yield Issue(f"runtime account is {given.runtime_account}, not {given.asked.runtime_account} (deploy again)")


def traffic_not_latest(given: AuditInput) -> Iterator[Issue]:
    if given.asked is not None and not spec.traffic_on_latest(given.service):
        yield Issue(
            "traffic is pinned to older revisions: the deployed one serves none of it",
            f"gcloud run services update-traffic {given.target.where()} --to-latest",
        )
