"""What Google's predefined roles allow, as far as the audit cares, and the default accounts Google creates.

Only the permissions that change a verdict are listed: invoking a service, granting roles, minting tokens for
other accounts and acting as them. Sources (Google's role reference, re-checkable):

- basic roles: cloud.google.com/iam/docs/roles-overview#basic (Editor holds every ``iam.serviceAccounts.*``
  permission but no ``*.setIamPolicy``; Owner holds everything);
- Cloud Run: cloud.google.com/iam/docs/roles-permissions/run (``run.admin``: ``run.*``; ``run.developer``:
  ``run.routes.*``; ``run.invoker``/``run.servicesInvoker``: ``run.routes.invoke``);
- IAM: cloud.google.com/iam/docs/roles-permissions/iam (``serviceAccountTokenCreator``, ``serviceAccountUser``,
  ``serviceAccountKeyAdmin``, ``serviceAccountAdmin``, ``securityAdmin``, ``workloadIdentityUser``);
- Resource Manager: cloud.google.com/iam/docs/roles-permissions/resourcemanager (``projectIamAdmin``).

A role missing from this table (custom roles, other services' roles) is reported by name, never judged.
"""

from __future__ import annotations

import re

INVOKE = "run.routes.invoke"
SET_SERVICE_POLICY = "run.services.setIamPolicy"
SET_PROJECT_POLICY = "resourcemanager.projects.setIamPolicy"
SET_ACCOUNT_POLICY = "iam.serviceAccounts.setIamPolicy"
ACT_AS = "iam.serviceAccounts.actAs"
GET_ACCESS_TOKEN = "iam.serviceAccounts.getAccessToken"  # noqa: S105 - a permission name
GET_ID_TOKEN = "iam.serviceAccounts.getOpenIdToken"  # noqa: S105 - a permission name
SIGN_BLOB = "iam.serviceAccounts.signBlob"
SIGN_JWT = "iam.serviceAccounts.signJwt"
IMPLICIT_DELEGATION = "iam.serviceAccounts.implicitDelegation"
CREATE_KEY = "iam.serviceAccountKeys.create"

_TOKENS = frozenset({GET_ACCESS_TOKEN, GET_ID_TOKEN, SIGN_BLOB, SIGN_JWT, IMPLICIT_DELEGATION})
_ALL = frozenset({INVOKE, SET_SERVICE_POLICY, SET_PROJECT_POLICY, SET_ACCOUNT_POLICY, ACT_AS, CREATE_KEY, *_TOKENS})

#: Predefined role -> the permissions of interest it holds.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/owner": _ALL,
    "roles/editor": frozenset({INVOKE, ACT_AS, CREATE_KEY, *_TOKENS}),
    "roles/run.admin": frozenset({INVOKE, SET_SERVICE_POLICY}),
    "roles/run.developer": frozenset({INVOKE}),
    "roles/run.invoker": frozenset({INVOKE}),
    "roles/run.servicesInvoker": frozenset({INVOKE}),
    "roles/resourcemanager.projectIamAdmin": frozenset({SET_PROJECT_POLICY}),
    "roles/iam.securityAdmin": frozenset({SET_PROJECT_POLICY, SET_ACCOUNT_POLICY, SET_SERVICE_POLICY}),
    "roles/iam.serviceAccountAdmin": frozenset({SET_ACCOUNT_POLICY}),
    "roles/iam.serviceAccountTokenCreator": _TOKENS,
    "roles/iam.workloadIdentityUser": frozenset({GET_ACCESS_TOKEN, GET_ID_TOKEN}),
    "roles/iam.serviceAccountUser": frozenset({ACT_AS}),
    "roles/iam.serviceAccountKeyAdmin": frozenset({CREATE_KEY}),
}

BASIC_ROLES = ("roles/owner", "roles/editor")

#: What a runtime identity holding these permissions can do, in the order findings say it.
CAPABILITIES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({SET_PROJECT_POLICY}), "grant itself any role in the project"),
    (frozenset({SET_ACCOUNT_POLICY}), "grant roles on service accounts (and so take them over)"),
    (frozenset({SET_SERVICE_POLICY}), "make Cloud Run services public"),
    (_TOKENS | {CREATE_KEY}, "mint tokens or keys for other service accounts"),
    (frozenset({ACT_AS}), "act as other service accounts (deploy code that runs as them)"),
)


def permissions(role: str) -> frozenset[str]:
    """The permissions of interest ``role`` holds; empty for a role this table does not know."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def known(role: str) -> bool:
    return role in ROLE_PERMISSIONS


def capabilities(held: frozenset[str]) -> list[str]:
    """What ``held`` allows, as phrases (empty when it allows nothing the audit calls privileged)."""
    return [phrase for needs, phrase in CAPABILITIES if held & needs]


#: Accounts Google creates in a project and grants broad roles to (cloud.google.com/iam/docs/service-account-types
#: "default service accounts"; cloud.google.com/iam/docs/service-agents "Google APIs Service Agent"; the legacy
#: Cloud Build account: cloud.google.com/build/docs/cloud-build-service-account). Pattern -> what it is.
DEFAULT_ACCOUNTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$"), "the Compute Engine default account (Editor)"),
    (re.compile(r"^[a-z][-a-z0-9]*@appspot\.gserviceaccount\.com$"), "the App Engine default account (Editor)"),
    (re.compile(r"^\d+@cloudservices\.gserviceaccount\.com$"), "the Google APIs service agent (Editor)"),
    (re.compile(r"^\d+@cloudbuild\.gserviceaccount\.com$"), "the legacy Cloud Build account (broad build roles)"),
)


def default_account(email: str) -> str | None:
    """What ``email`` is when it is one of Google's default accounts, else ``None``."""
    return next((what for pattern, what in DEFAULT_ACCOUNTS if pattern.match(email)), None)
