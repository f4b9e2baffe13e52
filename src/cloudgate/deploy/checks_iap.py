"""Checks of Identity-Aware Proxy directly on the service (``gcloud beta run deploy --iap``): on or off, who may
pass it, anyone-may-pass, and (read-back only) that what ``cloudgate deploy --iap`` asked for holds.

With IAP on, a person signs in with Google, IAP checks ``roles/iap.httpsResourceAccessor`` on the service's IAP
resource (``gcloud beta iap web get-iam-policy --resource-type=cloud-run``), then calls the service as its own
service agent, which needs ``roles/run.invoker`` (shared/CLOUD_RUN.md, "IAP directly on a Cloud Run service").
The IAP policy is ``AuditInput.iap_policy``: read only for a service with IAP on, ``None`` when unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import PUBLIC_MEMBERS, AuditInput
from cloudgate.deploy.findings import Issue
from cloudgate.google import IAP_ACCESSOR_ROLE, IAP_CLOUD_RUN_RESOURCE_TYPE


def _iap_web(given: AuditInput, verb: str, *args: str) -> str:
    target = given.target
    where = (f"--resource-type={IAP_CLOUD_RUN_RESOURCE_TYPE} --service={target.service} "
             f"--project={target.project} --region={target.region}")  # fmt: skip
    return " ".join(("gcloud beta iap web", verb, where, *args))


def _accessors(given: AuditInput) -> set[str]:
    return spec.policy_members(given.iap_policy or {}, IAP_ACCESSOR_ROLE)


def iap_state(given: AuditInput) -> Iterator[Issue]:
    if spec.iap_enabled(given.service):
        yield Issue(
            "IAP is on: people sign in with Google, IAP checks its accessor role, then calls the service as its "
            "service agent"
        )
    else:
        yield Issue("IAP is off: callers need an ID token of an invoker (or cloudgate proxy)")


def iap_accessors(given: AuditInput) -> Iterator[Issue]:
    if not spec.iap_enabled(given.service):
        return
    if given.iap_policy is None:
        yield Issue("who may pass IAP is unknown: the IAP policy could not be read", _iap_web(given, "get-iam-policy"))
        return
    members = sorted(_accessors(given))
    yield Issue(f"who may pass IAP ({IAP_ACCESSOR_ROLE}): {', '.join(members) or 'nobody'}")


def public_iap_accessors(given: AuditInput) -> Iterator[Issue]:
    if not spec.iap_enabled(given.service):
        return
    for member in sorted(_accessors(given) & set(PUBLIC_MEMBERS)):
        who = "anyone on the internet" if member == "allUsers" else "anyone with a Google account"
        yield Issue(
            f"{member} holds {IAP_ACCESSOR_ROLE}: {who} passes IAP and reaches the service",
            _iap_web(given, "remove-iam-policy-binding", f"--member={member}", f"--role={IAP_ACCESSOR_ROLE}"),
        )


# Read-back only: what ``cloudgate deploy --iap`` asked for (``AuditInput.asked``).


def iap_not_on(given: AuditInput) -> Iterator[Issue]:
    asked = given.asked
    if asked is not None and asked.iap != spec.iap_enabled(given.service):
        state = "off" if asked.iap else "on"
        flag = "--iap" if asked.iap else "--no-iap"
        yield Issue(
            f"IAP is {state}, but the deploy asked for {flag}",
            f"gcloud beta run services update {given.target.where()} {flag}",
        )


def missing_iap_accessors(given: AuditInput) -> Iterator[Issue]:
    asked = given.asked
    if asked is None or not asked.iap:
        return
    present = _accessors(given)
    for member in asked.iap_members:
        if member not in present:
            yield Issue(
                f"{member} does not hold {IAP_ACCESSOR_ROLE}",
                _iap_web(given, "add-iam-policy-binding", f"--member={member}", f"--role={IAP_ACCESSOR_ROLE}"),
            )


def unnamed_iap_accessors(given: AuditInput) -> Iterator[Issue]:
    asked = given.asked
    if asked is None or not asked.iap:
        return
    for member in sorted(_accessors(given) - set(asked.iap_members)):
        yield Issue(
            f"{member} holds {IAP_ACCESSOR_ROLE} but was not named with --iap-member",
            _iap_web(given, "remove-iam-policy-binding", f"--member={member}", f"--role={IAP_ACCESSOR_ROLE}"),
        )
