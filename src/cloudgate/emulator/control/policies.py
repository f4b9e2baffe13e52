"""IAM policies as Google's APIs exchange them: ``{"version", "etag", "bindings": [{"role", "members"}]}``.

The emulator keeps bindings as ``role -> [members]`` on each resource and an etag per resource in
``State.etags``. ``getIamPolicy`` answers the bindings with the current etag; ``setIamPolicy`` replaces them,
unless the request carries an etag that is no longer current: then ``409 ABORTED`` (Google's documented answer
to a stale read-modify-write, "There were concurrent policy changes"), and nothing changes. A request without
an etag overwrites, as on Google. Every change makes a new etag, so an edit made meanwhile by the CLI
(``cloudgate emulator services grant``) also makes a stale etag fail.

What may be bound is Google's rule (``core/policy_rules.py``): a role grantable on that resource type, a
well-formed member, an existing service account of the project; otherwise ``400 INVALID_ARGUMENT``.

Example::

    with store.edit() as state:
        bindings = set_policy(state, "services/api", state.services["api"].bindings, body["policy"])
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.policy_rules import BindingError, check_binding
from cloudgate.emulator.core.state import State

#: Google's etag of a policy that was never set (base64 of the bytes 00 20 01).
EMPTY_ETAG = "ACAB"
_MAX_BINDINGS = 1500


def policy_json(state: State, resource: str, bindings: dict[str, list[str]]) -> dict[str, Any]:
    """The policy as ``getIamPolicy`` answers it (no ``bindings`` key when there are none, like Google)."""
    answer: dict[str, Any] = {"version": 1, "etag": state.etags.get(resource, EMPTY_ETAG)}
    listed = [{"role": role, "members": list(members)} for role, members in sorted(bindings.items()) if members]
    if listed:
        answer["bindings"] = listed
    return answer


def parse_bindings(policy: Any) -> dict[str, list[str]]:
    """``role -> members`` from a request's policy; 400 ``INVALID_ARGUMENT`` for a malformed one."""
    if not isinstance(policy, dict):
        raise ApiError(400, "Invalid JSON payload received. 'policy' must be an object.")
    raw = policy.get("bindings", [])
    if not isinstance(raw, list) or len(raw) > _MAX_BINDINGS:
        raise ApiError(400, "Invalid JSON payload received. 'policy.bindings' must be a list.")
    bindings: dict[str, list[str]] = {}
    for binding in raw:
        role = binding.get("role") if isinstance(binding, dict) else None
        members = binding.get("members", []) if isinstance(binding, dict) else None
        if not isinstance(role, str) or not role:
            raise ApiError(400, f"Role ({role}) does not exist in the resource's hierarchy.")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ApiError(400, "Invalid JSON payload received. 'members' must be a list of strings.")
        if "condition" in binding:
            raise ApiError(400, "Conditional role bindings are not supported by the emulator.")
        target = bindings.setdefault(role, [])
        target.extend(m for m in members if m not in target)
    return bindings


def set_policy(state: State, resource: str, current: dict[str, list[str]], policy: Any) -> dict[str, list[str]]:
    """Replace ``current`` (in place) with the request's bindings after the etag check; returns them."""
    bindings = parse_bindings(policy)
    try:
        for role, members in bindings.items():
            check_binding(state, resource, role, members, already=set(current.get(role, ())))
    except BindingError as exc:
        raise ApiError(400, str(exc)) from exc
    etag = policy.get("etag") if isinstance(policy, dict) else None
    if etag is not None and not _same_etag(etag, state.etags.get(resource, EMPTY_ETAG)):
        raise ApiError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write with exponential "
            f"backoff. The request's ETag '{etag}' did not match the current policy's ETag '{state.etags.get(resource, EMPTY_ETAG)}'.",
            "ABORTED",
        )
    current.clear()
    current.update(bindings)
    state.touch_policy(resource)
    return current


def _same_etag(given: Any, current: str) -> bool:
    """Etags are bytes in the IAM protos, so clients may send them back base64url-encoded (gcloud does)."""
    if not isinstance(given, str):
        return False
    return _etag_bytes(given) == _etag_bytes(current)


def _etag_bytes(etag: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(etag.replace("+", "-").replace("/", "_") + "=" * (-len(etag) % 4))
    except (binascii.Error, ValueError):
        return etag.encode()
