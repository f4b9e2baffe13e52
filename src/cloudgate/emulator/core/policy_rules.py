"""What Google lets into an IAM policy: the role must be grantable on the resource type, the member well formed,
and a service account of the project, a user or a group must exist when it is added.

Google refuses a ``user:`` that is no Google account ("User EMAIL does not exist.") and a ``group:`` that is no
Google group ("Group EMAIL does not exist."); the emulated directory (``identity/directory.py``: ``cloudgate
emulator users create EMAIL --group GROUP``) is the emulator's whole world of accounts and groups, so those not in
it are refused alike. ``domain:`` members are not checked (Google wants a Workspace or Cloud Identity domain;
the emulator has no list of those), nor service accounts of other projects (they cannot be looked up here).

``check_binding`` is called by every path that adds a binding (``setIamPolicy`` of each API, the CLI's
``grant`` commands); it raises ``BindingError`` with Google's wording, which the API answers as
``400 INVALID_ARGUMENT`` and the CLI prints. Members already in the policy are not re-checked (a read-modify-write
sends back ``deleted:`` members and accounts deleted meanwhile, as Google accepts).

Deleting a service account turns its bindings into ``deleted:serviceAccount:EMAIL?uid=ID`` (``retire_account``):
a new account with the same email is a new principal and inherits nothing.

Example::

    check_binding(state, "services/api", "roles/run.invoker", ["group:devs@example.com"], already=set())
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cloudgate.emulator.core.federation import is_federated_member
from cloudgate.emulator.core.roles import grantable, role_exists
from cloudgate.emulator.core.state import State
from cloudgate.errors import EmulatorError

_EMAIL = r"[^@\s:?]+@[^@\s:?]+\.[^@\s:?]+"
_MEMBER = re.compile(
    rf"^(allUsers|allAuthenticatedUsers|(serviceAccount|user|group):{_EMAIL}|domain:[a-z0-9.-]+\.[a-z]+)$"
)
_DELETED = re.compile(rf"^deleted:(serviceAccount|user|group):{_EMAIL}\?uid=\d+$")


class BindingError(EmulatorError):
    """A binding Google would refuse (400 INVALID_ARGUMENT on the API)."""


def resource_type(resource: str) -> str:
    """``project``, ``service``, ``account``, ``secret`` or ``iap_web`` for a policy key (``services/api`` ->
    ``service``)."""
    kind = resource.partition("/")[0]
    return {"services": "service", "accounts": "account", "secrets": "secret", "iap_web": "iap_web"}.get(
        kind, "project"
    )


def check_role(role: str, resource: str) -> None:
    if role.startswith(("projects/", "organizations/")) and "/roles/" in role:
        raise BindingError(f"Role ({role}) does not exist in the resource's hierarchy.")
    if not role_exists(role) or not grantable(role, resource_type(resource)):
        raise BindingError(f"Role {role} is not supported for this resource.")


def check_member(state: State, member: str) -> None:
    """A well-formed member; a ``serviceAccount:`` of the emulated project, a ``user:`` and a ``group:`` must
    exist (in the emulated directory)."""
    if _DELETED.match(member) or is_federated_member(member):
        return
    if not _MEMBER.match(member):
        raise BindingError(f"Invalid principal: {member}")
    kind, _, email = member.partition(":")
    if kind == "serviceAccount" and _own_account(state, email) and email not in state.accounts:
        raise BindingError(f"Service account {email} does not exist.")
    if kind == "user" and email not in state.users:
        raise BindingError(f"User {email} does not exist.")
    if kind == "group" and email not in state.groups:
        raise BindingError(f"Group {email} does not exist.")


def check_binding(state: State, resource: str, role: str, members: Iterable[str], *, already: set[str]) -> None:
    """Refuse what Google refuses in one binding; ``already`` are the role's members before the change."""
    added = [member for member in members if member not in already]
    if not added:
        return
    check_role(role, resource)
    for member in added:
        check_member(state, member)


def deleted_member(email: str, unique_id: str) -> str:
    return f"deleted:serviceAccount:{email}?uid={unique_id}"


def retire_account(state: State, email: str) -> None:
    """Replace ``serviceAccount:EMAIL`` in every policy and group by its ``deleted:`` form (the account is gone)."""
    member = f"serviceAccount:{email}"
    retired = deleted_member(email, state.accounts[email].unique_id)
    for resource, bindings in state.all_bindings().items():
        changed = False
        for members in bindings.values():
            if member in members:
                members[members.index(member)] = retired
                changed = True
        if changed:
            state.touch_policy(resource)
    for group in state.groups.values():
        if member in group.members:
            group.members.remove(member)


def _own_account(state: State, email: str) -> bool:
    """An account of the emulated project (user-made or the default compute account); others cannot be looked up."""
    return email.endswith(f"@{state.project_id}.iam.gserviceaccount.com")
