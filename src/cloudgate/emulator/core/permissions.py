"""Who may do what: the one place that decides IAM, ``allowed(state, member, permission, resource)``, as Google
evaluates it. Every room asks it: the admin APIs (``require``), the front end (``policy_index``), revisions.

A permission is held on a resource when a binding on that resource, or on the project above it, gives one of the
principal's identities a role holding it (``roles.py``). A principal's identities are its own member
(``serviceAccount:E``, ``user:E``), every group of the emulated directory it belongs to (nested groups too),
its domain (``domain:example.com`` for ``user:alice@example.com``; service accounts have none),
``allAuthenticatedUsers`` and ``allUsers``. A service account that no longer exists has no identities: its
tokens are refused and its old bindings (``deleted:serviceAccount:E?uid=N``) match nobody.

With ``State.iam_propagation_seconds`` above 0, a policy change applies that many seconds after it was made
(``State.iam_changes`` keeps the bindings before it): a script that grants and calls at once meets the 403 it
would meet on Google.

Resources are named by the keys the state uses for etags: ``project``, ``services/NAME``, ``accounts/EMAIL``,
``secrets/NAME``, ``iap_web/NAME`` (IAP's own policy of a Cloud Run service). Google's service agents (the IAP
agent, ``core/iap.py``) are live principals of every project. The front end asks on every request, so the bindings are expanded once per state version into
``resource -> permission -> members`` and each principal's identities are cached with them: a check is a few
dict lookups and a set intersection.

Refusals are worded as Google words them (``PERMISSION_DENIED``). ``require`` takes the Google resource name
the message names (``projects/P/locations/R/services/api``) and finds the policy from it.

Example::

    if not allowed(state, "user:alice@example.com", "run.routes.invoke", "services/api"):
        ...
    require(state, member, "run.services.update", "projects/p/locations/us-central1/services/api")
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cloudgate.emulator.core import iap
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.federation import any_member_matches, is_federated_member, principal_of
from cloudgate.emulator.core.roles import ROLES
from cloudgate.emulator.core.state import DEFAULT_REGION, State, service_key
from cloudgate.knative import compute_account

logger = logging.getLogger(__name__)

PROJECT = "project"
_PUBLIC = "allUsers"
_AUTHENTICATED = "allAuthenticatedUsers"
_NO_IDENTITIES: frozenset[str] = frozenset()
_EMPTY: frozenset[str] = frozenset()
_CACHE_SIZE = 4
_MEMO_SIZE = 10_000


def service_resource(name: str) -> str:
    return f"services/{name}"


def account_resource(email: str) -> str:
    return f"accounts/{email}"


def secret_resource(name: str) -> str:
    return f"secrets/{name}"


def iap_resource(name: str) -> str:
    """IAP's policy of the Cloud Run service kept at ``name`` (its state key)."""
    return f"iap_web/{name}"


@dataclass
class PolicyIndex:
    """The policies of one state version, expanded for checking; valid until ``valid_until`` (propagation)."""

    holders: dict[str, dict[str, frozenset[str]]]
    valid_until: float
    #: Live principals (existing, enabled accounts and directory users) by numeric id (an ID token's ``sub``).
    by_sub: dict[str, str]
    groups_of: dict[str, frozenset[str]]
    _identities: dict[str, frozenset[str]] = field(default_factory=dict)
    _holders: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    _live: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self._live = frozenset(self.by_sub.values())

    def identities(self, member: str) -> frozenset[str]:
        """Every IAM member string that names ``member`` (empty when it is no live principal)."""
        known = self._identities.get(member)
        if known is None:
            known = self._expand(member)
            if len(self._identities) < _MEMO_SIZE:
                self._identities[member] = known
        return known

    def _expand(self, member: str) -> frozenset[str]:
        if is_federated_member(member) and member.startswith("principal:"):
            return frozenset([member, _AUTHENTICATED, _PUBLIC])  # vouched for by the STS exchange
        if member not in self._live:
            return _NO_IDENTITIES
        kind, _, email = member.partition(":")
        extra = (f"domain:{email.rpartition('@')[2].lower()}",) if kind == "user" else ()
        return frozenset([member, *extra, *self.groups_of.get(member, ()), _AUTHENTICATED, _PUBLIC])

    def speaks_for(self, member: str, subject_id: str = "") -> bool:
        """Whether a token minted for ``member`` (whose numeric id was ``subject_id``) is a live principal now."""
        if not self.identities(member):
            return False
        return not subject_id or member.startswith("principal:") or self.by_sub.get(subject_id) == member

    def holders_of(self, permission: str, resource: str) -> frozenset[str]:
        """The members holding ``permission`` on ``resource``, through its own policy or the project's."""
        key = (permission, resource)
        known = self._holders.get(key)
        if known is None:
            own = self.holders.get(resource, {}).get(permission, _EMPTY)
            inherited = self.holders.get(PROJECT, {}).get(permission, _EMPTY) if resource != PROJECT else _EMPTY
            known = own | inherited
            if len(self._holders) < _MEMO_SIZE:  # names can come from requests (testIamPermissions): bounded
                self._holders[key] = known
        return known

    def allows(self, member: str, permission: str, resource: str, attributes: dict[str, Any] | None = None) -> bool:
        """Whether ``member`` holds ``permission``; a federated principal (``principal://``, from the STS) also
        through the ``principalSet://`` members its ``attributes`` (pool, groups, mapped attributes) match."""
        holders = self.holders_of(permission, resource)
        if not self.identities(member).isdisjoint(holders):
            return True
        federated = principal_of(member, attributes or {}) if member.startswith("principal:") else None
        return federated is not None and any_member_matches(
            [h for h in holders if h.startswith("principal")], federated
        )

    def public(self, permission: str, resource: str) -> bool:
        """Whether anyone, even without a token, holds ``permission`` (``allUsers`` bound)."""
        return _PUBLIC in self.holders_of(permission, resource)

    def principal(self, claims: dict[str, Any]) -> str | None:
        """The live principal an ID token speaks for: its ``sub`` must be the current account's (a deleted and
        re-created account is a new principal), found by ``email`` when present, else by ``sub``."""
        sub = claims.get("sub")
        member = self.by_sub.get(sub) if isinstance(sub, str) else None
        email = claims.get("email")
        if member is None or (isinstance(email, str) and member.partition(":")[2] != email):
            return None
        return member


_cache: dict[int, tuple[State, PolicyIndex]] = {}
_cache_lock = threading.Lock()


def policy_index(state: State, now: float | None = None) -> PolicyIndex:
    """The expanded policies of ``state`` at ``now`` (Unix seconds; the wall clock by default), cached."""
    moment = time.time() if now is None else now
    cached = _cache.get(id(state))
    if cached is not None and cached[0] is state and moment < cached[1].valid_until:
        return cached[1]
    index = _build(state, moment)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[id(state)] = (state, index)
    return index


def allowed(state: State, member: str, permission: str, resource: str, *, now: float | None = None) -> bool:
    """Whether ``member`` holds ``permission`` on ``resource`` (or on the project) in ``state`` at ``now``."""
    return policy_index(state, now).allows(member, permission, resource)


def effective_bindings(state: State, now: float) -> tuple[dict[str, dict[str, list[str]]], float]:
    """Each policy's bindings as in effect at ``now``, and when the next pending change takes effect."""
    bindings = state.all_bindings()
    delay = state.iam_propagation_seconds
    if delay <= 0 or not state.iam_changes:
        return bindings, math.inf
    pending = [change for change in state.iam_changes if change.at + delay > now]
    for change in reversed(pending):  # the oldest pending change's "before" is what is still in effect
        bindings[change.resource] = change.before
    return bindings, min((change.at + delay for change in pending), default=math.inf)


def _build(state: State, now: float) -> PolicyIndex:
    bindings, valid_until = effective_bindings(state, now)
    holders: dict[str, dict[str, frozenset[str]]] = {}
    for resource, policy in bindings.items():
        collected: dict[str, set[str]] = {}
        for role_name, members in policy.items():
            role = ROLES.get(role_name)
            if role is None or not members:
                continue
            for permission in role.permissions:
                collected.setdefault(permission, set()).update(members)
        holders[resource] = {permission: frozenset(members) for permission, members in collected.items()}
    by_sub = {user.unique_id: f"user:{email}" for email, user in state.users.items()}
    by_sub.update(
        (account.unique_id, f"serviceAccount:{email}")
        for email, account in state.accounts.items()
        if not account.disabled
    )
    by_sub[iap.agent_unique_id(state.project_number)] = iap.agent_member(state.project_number)
    return PolicyIndex(holders=holders, valid_until=valid_until, by_sub=by_sub, groups_of=_groups_of(state))


def _groups_of(state: State) -> dict[str, frozenset[str]]:
    """``member -> {"group:G", ...}``: every group each member is in, directly or through nested groups."""
    direct: dict[str, set[str]] = {}
    for group, record in state.groups.items():
        for member in record.members:
            direct.setdefault(member, set()).add(f"group:{group}")
    closed: dict[str, frozenset[str]] = {}
    for member in direct:
        seen: set[str] = set()
        todo = list(direct[member])
        while todo:
            group = todo.pop()
            if group not in seen:
                seen.add(group)
                todo.extend(direct.get(group, ()))
        closed[member] = frozenset(seen)
    return closed


_IAP_WEB = re.compile(r"/iap_web/cloud_run-([^/]+)/services/([^/:]+)")
_NAMED = re.compile(r"(?:/locations/([^/]+))?/(services|serviceAccounts|secrets)/([^/:]+)")
_POLICY_KIND = {"services": "services", "serviceAccounts": "accounts", "secrets": "secrets"}


def policy_key(resource: str) -> str:
    """The policy a Google resource name sits under: ``.../services/api`` -> ``services/api``; else the project."""
    if resource == PROJECT or resource.startswith(("services/", "accounts/", "secrets/", "iap_web/")):
        return resource
    iap_web = _IAP_WEB.search(resource)
    if iap_web is not None:  # IAP's policy of a Cloud Run service, not the service's own
        return iap_resource(service_key(iap_web.group(1), iap_web.group(2)))
    found = _NAMED.findall(resource)
    if not found or found[-1][2] == "-":
        return PROJECT
    region, kind, name = found[-1]
    if kind == "services":  # a service's policy is kept under its state key (REGION/NAME outside the default)
        name = service_key(region if region not in ("", "-") else DEFAULT_REGION, name)
    return f"{_POLICY_KIND[kind]}/{name}"


def require(state: State, member: str, permission: str, resource: str) -> None:
    """403 ``PERMISSION_DENIED`` worded as Google words it, unless ``member`` holds ``permission`` on ``resource``
    (a Google resource name, or a policy key) or on the project."""
    if not allowed(state, member, permission, policy_key(resource)):
        logger.info("%s refused %s on %s", member, permission, resource)
        raise ApiError(403, f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).")


def require_act_as(state: State, member: str, account: str) -> None:
    """Deploying as ``account`` needs ``iam.serviceAccounts.actAs`` on it, and it must exist; Google answers both
    failures alike (and spells the permission in lower case in this message)."""
    email = account or compute_account(state.project_number)
    exists = email in state.accounts or email == compute_account(state.project_number)
    if not exists or not allowed(state, member, "iam.serviceAccounts.actAs", account_resource(email)):
        logger.info("%s refused actAs on %s", member, email)
        raise ApiError(
            403, f"Permission 'iam.serviceaccounts.actAs' denied on service account {email} (or it may not exist)."
        )
