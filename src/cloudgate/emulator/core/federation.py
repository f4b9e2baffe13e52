"""Federated principals: who a workload identity pool's token speaks for, and which IAM members name it.

A token exchanged at the Security Token Service (``identity/sts_api.py``) speaks for one *federated principal*:
the pool, the mapped ``google.subject`` and the other mapped attributes. IAM policies name such principals with
Google's member forms:

- ``principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/subject/SUBJECT``
- ``principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/group/GROUP``
  (a value of ``google.groups``)
- ``principalSet://iam.googleapis.com/.../workloadIdentityPools/POOL/attribute.NAME/VALUE``
- ``principalSet://iam.googleapis.com/.../workloadIdentityPools/POOL/*`` (every identity of the pool)

Example::

    who = FederatedPrincipal(pool_name("123", "github"), {"google.subject": "repo:org/repo:ref:refs/heads/main",
                                                        "attribute.repository": "org/repo"})
    member_matches("principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/"
                   "attribute.repository/org/repo", who)   # True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The host part every federated member and provider audience starts with.
IAM_HOST = "//iam.googleapis.com/"
_POOL_NAME = r"projects/(?P<project>[0-9]+)/locations/global/workloadIdentityPools/(?P<pool>[a-z0-9-]{4,32})"
_MEMBER = re.compile(
    r"^(?P<kind>principal|principalSet):"
    + IAM_HOST
    + _POOL_NAME
    + r"/(?P<what>subject/.+|group/.+|attribute\.[a-z_][a-z0-9_]{0,99}/.+|\*)$"
)
#: Google's pool and provider ids: 4-32 lowercase letters, digits and dashes; the ``gcp-`` prefix is reserved.
POOL_ID = re.compile(r"^(?!gcp-)[a-z0-9-]{4,32}$")
SUBJECT_ATTRIBUTE = "google.subject"
GROUPS_ATTRIBUTE = "google.groups"
WORKLOAD_IDENTITY_USER_ROLE = "roles/iam.workloadIdentityUser"


def pool_name(project_number: str, pool_id: str) -> str:
    """``projects/NUMBER/locations/global/workloadIdentityPools/POOL``."""
    return f"projects/{project_number}/locations/global/workloadIdentityPools/{pool_id}"


def provider_name(project_number: str, pool_id: str, provider_id: str) -> str:
    return f"{pool_name(project_number, pool_id)}/providers/{provider_id}"


def is_federated_member(member: str) -> bool:
    """Whether ``member`` is a well-formed ``principal://`` or ``principalSet://`` member of a workload pool."""
    return _MEMBER.match(member) is not None


@dataclass(frozen=True)
class FederatedPrincipal:
    """A pool identity: ``pool`` is the pool's resource name, ``attributes`` the mapped ones (``google.subject`` too)."""

    pool: str
    attributes: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        value = self.attributes.get(SUBJECT_ATTRIBUTE, "")
        return value if isinstance(value, str) else ""

    @property
    def member(self) -> str:
        """The ``principal://`` member that names exactly this identity."""
        return f"principal:{IAM_HOST}{self.pool}/subject/{self.subject}"


def principal_of(member: str, attributes: dict[str, str | list[str]]) -> FederatedPrincipal | None:
    """The federated principal an access token's member and attributes describe; ``None`` for other members."""
    match = _MEMBER.match(member)
    if match is None or match["kind"] != "principal":
        return None
    return FederatedPrincipal(pool_name(match["project"], match["pool"]), dict(attributes))


def member_matches(member: str, principal: FederatedPrincipal) -> bool:
    """Whether an IAM binding's ``member`` includes ``principal`` (exact subject, group, attribute, or the pool)."""
    match = _MEMBER.match(member)
    if match is None or pool_name(match["project"], match["pool"]) != principal.pool:
        return False
    what = match["what"]
    if what == "*":
        return match["kind"] == "principalSet"
    kind, _, value = what.partition("/")
    if kind == "subject":
        return match["kind"] == "principal" and value == principal.subject
    if match["kind"] != "principalSet":
        return False
    name = GROUPS_ATTRIBUTE if kind == "group" else kind
    held = principal.attributes.get(name)
    return value == held or (isinstance(held, list) and value in held)


def any_member_matches(members: list[str], principal: FederatedPrincipal) -> bool:
    return any(member_matches(member, principal) for member in members)
