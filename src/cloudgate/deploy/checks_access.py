"""Checks of who can reach the service: invokers on the service and inherited from the project, the IAM check,
ingress. Each function reads an ``AuditInput`` and yields ``Issue``; ``checks.CHECKS`` gives them code and severity.

Who may invoke, as Google evaluates it (shared/CLOUD_RUN.md): ``run.routes.invoke`` on the service, from the
service's policy or inherited from the project's; ``roles/run.invoker``, Owner and Editor (and the roles in
``roles.ROLE_PERMISSIONS`` that hold it). ``group:`` members match the group's members, ``domain:`` members every
account of that Workspace or Cloud Identity domain.
"""

from __future__ import annotations

from collections.abc import Iterator

from cloudgate.deploy import roles
from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import PUBLIC_MEMBERS, AuditInput, Grant
from cloudgate.deploy.findings import Issue


def _where(grant: Grant, given: AuditInput) -> str:
    if grant.level == "service":
        return f"{grant.role} on the service"
    return f"{grant.role} on project {given.target.project} (inherited by every service in it)"


def public_invokers(given: AuditInput) -> Iterator[Issue]:
    for grant in given.invoker_grants():
        if grant.member in PUBLIC_MEMBERS:
            who = "anyone on the internet" if grant.member == "allUsers" else "anyone with a Google account"
            yield Issue(
                f"{grant.member} holds {_where(grant, given)}: {who} can call the service", given.fix_removing(grant)
            )


def domain_invokers(given: AuditInput) -> Iterator[Issue]:
    for grant in given.invoker_grants():
        if grant.member.startswith("domain:"):
            domain = grant.member.removeprefix("domain:")
            yield Issue(
                f"{grant.member} holds {_where(grant, given)}: every account of the {domain} domain can call the "
                "service (grant the accounts or a group that need it instead)",
                given.fix_removing(grant),
            )


def group_invokers(given: AuditInput) -> Iterator[Issue]:
    for grant in given.invoker_grants():
        if grant.member.startswith("group:"):
            yield Issue(
                f"{grant.member} holds {_where(grant, given)}: every member of the group can call the service, "
                "and whoever manages the group decides who that is (check who may add members)",
                given.fix_removing(grant),
            )


def inherited_invokers(given: AuditInput) -> Iterator[Issue]:
    """Project-level grants of invoke to one principal, except people's basic roles (listed by ``invokers``)."""
    for grant in given.invoker_grants():
        if grant.level != "project" or _broad_member(grant.member) or _administrator(grant):
            continue
        yield Issue(
            f"{grant.member} may invoke every service in the project: it holds {_where(grant, given)} (grant "
            "roles/run.invoker on only the services it must call instead)",
            given.fix_removing(grant),
        )


def pool_invokers(given: AuditInput) -> Iterator[Issue]:
    """A whole workload identity pool (``principalSet://.../*``): every identity its providers accept may call."""
    for grant in given.invoker_grants():
        if grant.member.startswith("principalSet://") and grant.member.endswith("/*"):
            yield Issue(
                f"{grant.member} holds {_where(grant, given)}: every identity the pool's providers accept can call "
                "the service (name an attribute, e.g. .../attribute.repository/ORG/REPO, instead)",
                given.fix_removing(grant),
            )


def invokers(given: AuditInput) -> Iterator[Issue]:
    """One line: who may invoke, on the service and (project administrators) by inheritance."""
    grants = given.invoker_grants()
    named = sorted({g.member for g in grants if g.level == "service" and g.member not in PUBLIC_MEMBERS})
    admins = sorted({f"{g.member} ({g.role})" for g in grants if _administrator(g)})
    parts = [f"may invoke: {', '.join(named)}"] if named else []
    if admins:
        parts.append("by inheritance from the project: " + ", ".join(admins))
    if parts:
        yield Issue("; ".join(parts))
    elif not grants:
        yield Issue(f"nobody holds {roles.INVOKE} on the service, nor on the project")


def iam_check_off(given: AuditInput) -> Iterator[Issue]:
    if spec.iam_check_disabled(given.service):
        yield Issue(
            "the invoker IAM check is off: every request reaches the container unchecked",
            f"gcloud run services update {given.target.where()} --invoker-iam-check",
        )


def ingress(given: AuditInput) -> Iterator[Issue]:
    value = spec.ingress(given.service)
    checked = not spec.iam_check_disabled(given.service)
    if value == "all":
        reach = "the internet, " + (
            "and each request still needs an invoker's ID token" if checked else "with no IAM check: anyone"
        )
    elif value == "internal-and-cloud-load-balancing":
        reach = (
            "internal traffic and Google Cloud load balancers (an external Application Load Balancer can expose "
            "it to the internet)"
        )
    else:
        reach = "internal traffic only (VPC networks of the project, Shared VPC, and some Google services)"
    yield Issue(f"ingress is {value}: reachable from {reach}")


def _broad_member(member: str) -> bool:
    return member in PUBLIC_MEMBERS or member.startswith(("domain:", "group:"))


def _administrator(grant: Grant) -> bool:
    """A person with a basic role on the project: expected to reach everything, listed rather than warned about."""
    return grant.level == "project" and grant.member.startswith("user:") and grant.role in roles.BASIC_ROLES
