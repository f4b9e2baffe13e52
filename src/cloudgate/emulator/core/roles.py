"""Google's predefined IAM roles as data: which permissions each holds, and on which resources it may be granted.

The one table the emulator decides from (``iam_evaluator.py`` reads it; nothing else names a role to decide).
Taken from Google's published role reference, trimmed to the permissions the emulator checks:

- Cloud Run: https://cloud.google.com/iam/docs/roles-permissions/run (``run.admin`` holds ``run.*``;
  ``run.developer`` all of ``run.services.*`` but ``setIamPolicy``; ``run.invoker`` and ``run.servicesInvoker``
  hold ``run.routes.invoke``; ``run.viewer`` reads and ``getIamPolicy``)
- IAM: https://cloud.google.com/iam/docs/roles-permissions/iam (``serviceAccountUser`` holds
  ``iam.serviceAccounts.actAs``; ``serviceAccountTokenCreator`` the token and signing permissions;
  ``serviceAccountOpenIdTokenCreator`` only ``getOpenIdToken``)
- Secret Manager: https://cloud.google.com/iam/docs/roles-permissions/secretmanager
- Resource Manager: https://cloud.google.com/iam/docs/roles-permissions/resourcemanager
- IAP: https://cloud.google.com/iam/docs/roles-permissions/iap
- Basic roles: https://cloud.google.com/iam/docs/roles-overview#basic (Owner: everything; Editor: no
  ``*.setIamPolicy``; Viewer: reads). Neither holds the token permissions of ``serviceAccountTokenCreator``: a
  project owner must be granted that role to impersonate, as on Google.

A role is grantable on a resource type when it holds a permission of that type ("Lowest-level resources where you
can grant this role" in Google's reference); basic roles on any. Roles of other Google products that users grant
on a project (``roles/storage.admin`` ...) are known by name only: grantable on the project, never on a service.

Example::

    assert "run.routes.invoke" in ROLES["roles/run.invoker"].permissions
    assert grantable("roles/run.invoker", "service") and not grantable("roles/storage.admin", "service")
"""

from __future__ import annotations

from dataclasses import dataclass

#: Resource types a policy can sit on, and the permission prefixes that apply to each.
RESOURCE_PERMISSION_PREFIXES: dict[str, tuple[str, ...]] = {
    "project": ("",),
    "service": ("run.services.", "run.routes."),
    #: IAP's own policy on a Cloud Run service (``projects/N/iap_web/cloud_run-REGION/services/S``).
    "iap_web": ("iap.webServiceVersions.", "iap.web."),
    "account": ("iam.serviceAccounts.", "iam.serviceAccountKeys."),
    "secret": ("secretmanager.secrets.", "secretmanager.versions."),
}

_RUN_READ = (
    "run.services.get", "run.services.list", "run.services.getIamPolicy", "run.routes.get", "run.routes.list",
    "run.configurations.get", "run.configurations.list", "run.revisions.get", "run.revisions.list",
    "run.locations.list", "run.operations.get", "run.operations.list",
)  # fmt: skip
_RUN_WRITE = ("run.services.create", "run.services.update", "run.services.delete", "run.revisions.delete")
_RUN_INVOKE = ("run.routes.invoke",)
_RUN_SET_IAM = ("run.services.setIamPolicy",)

_SA_READ = (
    "iam.serviceAccounts.get", "iam.serviceAccounts.list", "iam.serviceAccounts.getIamPolicy",
    "iam.serviceAccountKeys.get", "iam.serviceAccountKeys.list",
)  # fmt: skip
_SA_WRITE = (
    "iam.serviceAccounts.create", "iam.serviceAccounts.delete", "iam.serviceAccounts.update",
    "iam.serviceAccounts.disable", "iam.serviceAccounts.enable", "iam.serviceAccounts.undelete",
)  # fmt: skip
_SA_KEYS = ("iam.serviceAccountKeys.create", "iam.serviceAccountKeys.delete", "iam.serviceAccountKeys.disable")
_SA_SET_IAM = ("iam.serviceAccounts.setIamPolicy",)
_SA_ACT_AS = ("iam.serviceAccounts.actAs",)
_SA_TOKENS = (
    "iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.signBlob",
    "iam.serviceAccounts.signJwt", "iam.serviceAccounts.implicitDelegation",
)  # fmt: skip

_POOLS_READ = (
    "iam.workloadIdentityPools.get", "iam.workloadIdentityPools.list",
    "iam.workloadIdentityPoolProviders.get", "iam.workloadIdentityPoolProviders.list",
)  # fmt: skip
_POOLS_WRITE = (
    "iam.workloadIdentityPools.create", "iam.workloadIdentityPools.delete", "iam.workloadIdentityPools.update",
    "iam.workloadIdentityPools.undelete", "iam.workloadIdentityPoolProviders.create",
    "iam.workloadIdentityPoolProviders.delete", "iam.workloadIdentityPoolProviders.update",
    "iam.workloadIdentityPoolProviders.undelete",
)  # fmt: skip

_SECRET_READ = (
    "secretmanager.secrets.get", "secretmanager.secrets.list", "secretmanager.secrets.getIamPolicy",
    "secretmanager.versions.get", "secretmanager.versions.list",
)  # fmt: skip
_SECRET_WRITE = (
    "secretmanager.secrets.create", "secretmanager.secrets.delete", "secretmanager.secrets.update",
    "secretmanager.versions.add", "secretmanager.versions.enable", "secretmanager.versions.disable",
    "secretmanager.versions.destroy",
)  # fmt: skip
_SECRET_ACCESS = ("secretmanager.versions.access",)
_SECRET_SET_IAM = ("secretmanager.secrets.setIamPolicy",)

_PROJECT_READ = (
    "resourcemanager.projects.get",
    "resourcemanager.projects.list",
    "resourcemanager.projects.getIamPolicy",
)
_PROJECT_SET_IAM = ("resourcemanager.projects.setIamPolicy",)

_IAP_ACCESS = ("iap.webServiceVersions.accessViaIAP",)
_IAP_POLICY = ("iap.web.getIamPolicy", "iap.web.setIamPolicy", "iap.webServiceVersions.getIamPolicy",
               "iap.webServiceVersions.setIamPolicy")  # fmt: skip

#: Every permission the emulator checks somewhere.
ALL_PERMISSIONS = frozenset(
    [
        *_RUN_READ, *_RUN_WRITE, *_RUN_INVOKE, *_RUN_SET_IAM,
        *_SA_READ, *_SA_WRITE, *_SA_KEYS, *_SA_SET_IAM, *_SA_ACT_AS, *_SA_TOKENS, *_POOLS_READ, *_POOLS_WRITE,
        *_SECRET_READ, *_SECRET_WRITE, *_SECRET_ACCESS, *_SECRET_SET_IAM,
        *_PROJECT_READ, *_PROJECT_SET_IAM, *_IAP_ACCESS, *_IAP_POLICY,
    ]
)  # fmt: skip


@dataclass(frozen=True)
class Role:
    """A predefined role: its title (as Google's console shows it) and the permissions it holds."""

    title: str
    permissions: frozenset[str]
    #: Basic roles (Owner, Editor, Viewer) may be granted on any resource type.
    basic: bool = False


def _role(title: str, *groups: tuple[str, ...], basic: bool = False) -> Role:
    return Role(title, frozenset(p for group in groups for p in group), basic)


_OWNER = ALL_PERMISSIONS - frozenset(_SA_TOKENS)
_EDITOR = frozenset(p for p in _OWNER if not p.endswith(".setIamPolicy"))
_VIEWER = frozenset(p for p in ALL_PERMISSIONS if p.rsplit(".", 1)[1] in ("get", "list", "getIamPolicy"))

#: The roles the emulator knows, by name.
ROLES: dict[str, Role] = {
    "roles/owner": Role("Owner", _OWNER, basic=True),
    "roles/editor": Role("Editor", _EDITOR, basic=True),
    "roles/viewer": Role("Viewer", _VIEWER, basic=True),
    "roles/run.admin": _role("Cloud Run Admin", _RUN_READ, _RUN_WRITE, _RUN_INVOKE, _RUN_SET_IAM, _PROJECT_READ[:2]),
    "roles/run.developer": _role("Cloud Run Developer", _RUN_READ, _RUN_WRITE, _RUN_INVOKE, _PROJECT_READ[:2]),
    "roles/run.viewer": _role("Cloud Run Viewer", _RUN_READ, _PROJECT_READ[:2]),
    "roles/run.invoker": _role("Cloud Run Invoker", _RUN_INVOKE),
    "roles/run.servicesInvoker": _role("Cloud Run Service Invoker", _RUN_INVOKE),
    "roles/iam.serviceAccountAdmin": _role(
        "Service Account Admin", _SA_READ, _SA_WRITE, _SA_SET_IAM, _PROJECT_READ[:2]
    ),
    "roles/iam.serviceAccountUser": _role(
        "Service Account User", _SA_ACT_AS, ("iam.serviceAccounts.get", "iam.serviceAccounts.list"), _PROJECT_READ[:2]
    ),
    "roles/iam.serviceAccountTokenCreator": _role(
        "Service Account Token Creator", _SA_TOKENS, ("iam.serviceAccounts.get",), _PROJECT_READ[:2]
    ),
    "roles/iam.serviceAccountOpenIdTokenCreator": _role(
        "Service Account OpenID Connect Identity Token Creator", ("iam.serviceAccounts.getOpenIdToken",)
    ),
    "roles/iam.serviceAccountKeyAdmin": _role(
        "Service Account Key Admin",
        _SA_KEYS,
        ("iam.serviceAccountKeys.get", "iam.serviceAccountKeys.list"),
        ("iam.serviceAccounts.get", "iam.serviceAccounts.list"),
        _PROJECT_READ[:2],
    ),
    "roles/iam.workloadIdentityUser": _role("Workload Identity User", _SA_TOKENS[:2]),
    "roles/iam.workloadIdentityPoolAdmin": _role("IAM Workload Identity Pool Admin", _POOLS_READ, _POOLS_WRITE),
    "roles/iam.workloadIdentityPoolViewer": _role("IAM Workload Identity Pool Viewer", _POOLS_READ),
    "roles/iam.securityReviewer": _role(
        "Security Reviewer",
        tuple(p for p in _VIEWER if p.endswith((".getIamPolicy", ".list"))),
    ),
    "roles/iam.securityAdmin": _role(
        "Security Admin",
        _SA_READ,
        _SA_SET_IAM,
        _RUN_SET_IAM,
        _SECRET_SET_IAM,
        _PROJECT_READ,
        _PROJECT_SET_IAM,
        ("run.services.getIamPolicy", "secretmanager.secrets.getIamPolicy"),
    ),
    "roles/secretmanager.admin": _role(
        "Secret Manager Admin", _SECRET_READ, _SECRET_WRITE, _SECRET_ACCESS, _SECRET_SET_IAM, _PROJECT_READ[:2]
    ),
    "roles/secretmanager.secretAccessor": _role("Secret Manager Secret Accessor", _SECRET_ACCESS),
    "roles/secretmanager.viewer": _role("Secret Manager Viewer", _SECRET_READ, _PROJECT_READ[:2]),
    "roles/secretmanager.secretVersionAdder": _role(
        "Secret Manager Secret Version Adder", ("secretmanager.versions.add",)
    ),
    "roles/secretmanager.secretVersionManager": _role(
        "Secret Manager Secret Version Manager",
        (
            "secretmanager.versions.add",
            "secretmanager.versions.enable",
            "secretmanager.versions.disable",
            "secretmanager.versions.destroy",
            "secretmanager.versions.get",
            "secretmanager.versions.list",
        ),
    ),
    "roles/resourcemanager.projectIamAdmin": _role("Project IAM Admin", _PROJECT_READ, _PROJECT_SET_IAM),
    "roles/browser": _role("Browser", _PROJECT_READ[:2]),
    "roles/iap.httpsResourceAccessor": _role("IAP-secured Web App User", _IAP_ACCESS),
    "roles/iap.admin": _role("IAP Policy Admin", _IAP_POLICY),
}

#: Predefined roles of products the emulator does not serve: valid names on a project, holding nothing it checks.
OTHER_PRODUCT_ROLES = frozenset(
    {
        "roles/artifactregistry.admin", "roles/artifactregistry.reader", "roles/artifactregistry.writer",
        "roles/cloudbuild.builds.builder", "roles/cloudbuild.builds.editor", "roles/cloudsql.client",
        "roles/cloudtrace.agent", "roles/datastore.user", "roles/datastore.viewer", "roles/logging.logWriter",
        "roles/logging.viewer", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
        "roles/pubsub.publisher", "roles/pubsub.subscriber", "roles/redis.editor", "roles/storage.admin",
        "roles/storage.objectAdmin", "roles/storage.objectCreator", "roles/storage.objectViewer",
        "roles/bigquery.dataViewer", "roles/bigquery.jobUser", "roles/errorreporting.writer",
    }
)  # fmt: skip


def role_exists(role: str) -> bool:
    return role in ROLES or role in OTHER_PRODUCT_ROLES


def grantable(role: str, resource_type: str) -> bool:
    """Whether Google lets ``role`` be bound on a resource of ``resource_type`` (``project``, ``service`` ...)."""
    if resource_type == "project":
        return role_exists(role)
    known = ROLES.get(role)
    if known is None:
        return False
    if known.basic:
        return True
    prefixes = RESOURCE_PERMISSION_PREFIXES[resource_type]
    return any(p.startswith(prefixes) for p in known.permissions)


def roles_granting(permission: str) -> frozenset[str]:
    """The names of the roles that hold ``permission`` (for messages and docs)."""
    return frozenset(name for name, role in ROLES.items() if permission in role.permissions)
