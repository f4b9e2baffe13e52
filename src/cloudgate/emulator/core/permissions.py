"""Who may do what: the roles that grant each permission, and the one check every room asks.

What a member may do is read from the project's IAM policy (``State.project_bindings``) and, where given, the
resource's own bindings: ``roles/owner`` and ``roles/editor`` may do everything, each API has its admin role
(``roles/run.admin``, ``roles/iam.serviceAccountAdmin`` ...), and a few narrower roles grant one permission.
Refusals are worded as Google words them (``PERMISSION_DENIED``).

Example::

    require(state, "serviceAccount:ci@p.iam.gserviceaccount.com", "run.services.create", "namespaces/p/services/s")
"""

from __future__ import annotations

import logging

from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.state import State

logger = logging.getLogger(__name__)

#: Which project roles grant a permission, by the permission's service prefix (``run`` of ``run.services.get``).
_ADMIN_ROLES = {
    "run": ("roles/run.admin", "roles/run.developer"),
    "iam": ("roles/iam.serviceAccountAdmin",),
    "secretmanager": ("roles/secretmanager.admin",),
    "resourcemanager": ("roles/resourcemanager.projectIamAdmin", "roles/iam.securityReviewer"),
}
_OWNER_ROLES = ("roles/owner", "roles/editor")
#: Narrower roles that grant one permission besides the admin roles.
_NARROW_ROLES = {
    "secretmanager.versions.access": ("roles/secretmanager.secretAccessor",),
    "run.services.get": ("roles/run.viewer", "roles/viewer"),
    "run.services.list": ("roles/run.viewer", "roles/viewer"),
    "run.services.getIamPolicy": ("roles/run.viewer", "roles/viewer"),
    "resourcemanager.projects.get": ("roles/viewer",),
    "resourcemanager.projects.getIamPolicy": ("roles/viewer",),
}


def allowed(state: State, member: str, permission: str, resource_bindings: dict[str, list[str]] | None = None) -> bool:
    """Whether ``member`` holds a role granting ``permission`` on the project (or on the resource itself)."""
    roles = [*_OWNER_ROLES, *_ADMIN_ROLES.get(permission.split(".", 1)[0], ()), *_NARROW_ROLES.get(permission, ())]
    for bindings in (state.project_bindings, resource_bindings or {}):
        if any(member in bindings.get(role, []) for role in roles):
            return True
    return False


def require(
    state: State, member: str, permission: str, resource: str, resource_bindings: dict[str, list[str]] | None = None
) -> None:
    """403 ``PERMISSION_DENIED`` worded as Google words it, unless ``allowed``."""
    if not allowed(state, member, permission, resource_bindings):
        logger.info("%s refused %s on %s", member, permission, resource)
        raise ApiError(403, f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).")
