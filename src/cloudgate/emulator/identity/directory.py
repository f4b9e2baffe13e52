"""The emulated directory: users, groups and domains, so ``group:`` and ``domain:`` bindings match as on Google.

Users are the emulator's users (``iam.create_user``); a user's domain is its email's (``alice@example.com`` is in
``domain:example.com``). A group holds IAM members: users, service accounts and other groups (nested membership
counts, as in Google Groups). ``cloudgate emulator users create alice@example.com --group devs@example.com``
makes the user and puts it in the group, creating the group if needed.

Example::

    with store.edit() as state:
        join_groups(state, "user:alice@example.com", ["devs@example.com"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cloudgate.emulator.core.state import Group, State
from cloudgate.errors import EmulatorError

_GROUP = re.compile(r"^[^@\s:?]+@[^@\s:?]+\.[^@\s:?]+$")


def join_groups(state: State, member: str, groups: Iterable[str]) -> None:
    """Add ``member`` (``user:E``, ``serviceAccount:E``, ``group:E``) to each group, creating missing groups."""
    for email in groups:
        if not _GROUP.match(email):
            raise EmulatorError(f"a group is named by an email address, not {email!r}")
        if member == f"group:{email}":
            raise EmulatorError(f"group {email} cannot contain itself")
        group = state.groups.setdefault(email, Group())
        if member not in group.members:
            group.members.append(member)


def leave_group(state: State, member: str, group: str) -> None:
    record = state.groups.get(group)
    if record is None or member not in record.members:
        raise EmulatorError(f"{member} is not a member of group {group}")
    record.members.remove(member)
