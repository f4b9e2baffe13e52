"""Checks of the runtime identity: judged by what its project roles allow, and whether it is a Google default account.

The code a service runs acts with its runtime account's permissions; an account that can grant roles, mint
tokens for other accounts or act as them is as good as the project's Owner to whoever controls that code.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from cloudgate.deploy import roles
from cloudgate.deploy.audit_input import AuditInput
from cloudgate.deploy.findings import Issue


def default_account(given: AuditInput) -> Iterator[Issue]:
    account = given.runtime_account
    what = roles.default_account(account) if account else "the Compute Engine default account (Editor)"
    if what is None:
        return
    shown = account or "not set, so Cloud Run uses the Compute Engine default account"
    target = given.target
    dedicated = f"{target.service}-runtime"[:30].rstrip("-")
    email = f"{dedicated}@{target.project}.iam.gserviceaccount.com"
    yield Issue(
        f"runtime account is {shown}: {what}, which Google grants broad project roles by default",
        f"gcloud iam service-accounts create {shlex.quote(dedicated)} --project={shlex.quote(target.project)} && "
        f"gcloud run services update {target.where()} --service-account={shlex.quote(email)}",
    )


def privileged_account(given: AuditInput) -> Iterator[Issue]:
    for grant in given.runtime_grants():
        allows = roles.capabilities(roles.permissions(grant.role))
        if allows:
            yield Issue(
                f"runtime account {given.runtime_account} holds {grant.role} on project {given.target.project}: "
                f"the code it runs can {', '.join(allows)}",
                given.fix_removing(grant),
            )


def runtime_roles(given: AuditInput) -> Iterator[Issue]:
    """Roles the table does not know (custom roles, other services'): named so that a person judges them."""
    unknown = sorted({grant.role for grant in given.runtime_grants() if not roles.known(grant.role)})
    if unknown:
        yield Issue(
            f"runtime account {given.runtime_account} also holds on the project (not judged here): "
            + ", ".join(unknown)
        )


def project_policy_unread(given: AuditInput) -> Iterator[Issue]:
    if given.project_policy is None:
        yield Issue(
            "could not read the project's IAM policy: inherited invokers and the runtime account's roles are unchecked",
            f"grant the auditing account roles/iam.securityReviewer (or roles/viewer) on {given.target.project}",
        )
