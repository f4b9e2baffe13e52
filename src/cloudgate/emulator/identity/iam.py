"""IAM operations on the emulator's state: accounts, key files, users, services and role bindings.

The CLI (``cloudgate emulator ...``), the admin API and ``cloudgate dev`` all go through these functions, so the
state only changes in one way. Functions that create a secret (a key file, a user's refresh token) return it once
and keep only its public half or hash.

Example::

    store = StateStore(Path(".cloudgate/emulator"))
    email = create_account(store, "ci")
    key_file = create_key(store, email, token_uri="http://127.0.0.1:8089/token")
    grant_service_role(store, "dev", INVOKER_ROLE, f"serviceAccount:{email}")
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Iterable
from typing import Any

from cloudgate.emulator.core.keys import generate_rsa_key, new_key_id, private_pem, public_pem, sha256_hex
from cloudgate.emulator.core.policy_rules import check_binding, retire_account
from cloudgate.emulator.core.state import (
    TOKEN_CREATOR_ROLE,
    Account,
    Service,
    State,
    StateStore,
    User,
    new_unique_id,
)
from cloudgate.emulator.identity.directory import join_groups
from cloudgate.errors import EmulatorError
from cloudgate.google import GCLOUD_CLIENT_ID

#: Users' OAuth client: gcloud's own, whose ID tokens Cloud Run accepts for a user (``gcloud auth
#: print-identity-token``); the emulator accepts it only with the secret it made for that user.
_USER_CLIENT_ID = GCLOUD_CLIENT_ID
_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s:?]+@[^@\s:?]+\.[^@\s:?]+$")


def create_account(store: StateStore, account_id: str, *, display_name: str = "", groups: Iterable[str] = ()) -> str:
    """Create a service account (``ci`` or a full email), in ``groups`` of the directory; returns its email.
    Existing accounts are kept."""
    state = store.current()
    email = state.account_email(account_id)
    short = email.split("@", 1)[0]
    if not _ACCOUNT_ID.match(short):
        raise EmulatorError(
            f"invalid service account id {short!r}: 6-30 characters, lowercase letters, digits and dashes"
        )
    with store.edit() as state:
        state.accounts.setdefault(email, Account(unique_id=new_unique_id(), display_name=display_name))
        join_groups(state, f"serviceAccount:{email}", groups)
    return email


def create_key(store: StateStore, account: str, *, token_uri: str) -> dict[str, Any]:
    """A new key for ``account``: returns the key file (with the private key), stores only the public key."""
    key = generate_rsa_key()
    kid = new_key_id()
    with store.edit() as state:
        email = state.account_email(account)
        record = state.account(email)
        record.keys[kid] = public_pem(key.public_key())
        record.key_created[kid] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        project_id = state.project_id
    certs_base = token_uri.rsplit("/", 1)[0]
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": kid,
        "private_key": private_pem(key),
        "client_email": email,
        "client_id": record.unique_id,
        "auth_uri": f"{certs_base}/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": f"{certs_base}/oauth2/v1/certs",
        "client_x509_cert_url": f"{certs_base}/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }


def delete_key(store: StateStore, account: str, key_id: str) -> None:
    """Remove a key; assertions signed with it are refused from then on."""
    with store.edit() as state:
        record = state.account(state.account_email(account))
        if record.keys.pop(key_id, None) is None:
            raise EmulatorError(f"no key {key_id!r} on that account")
        record.key_created.pop(key_id, None)


def delete_account(store: StateStore, account: str) -> None:
    """Remove a service account and its keys, as Google does: its own policy goes, its bindings elsewhere become
    ``deleted:serviceAccount:EMAIL?uid=ID`` and its tokens are refused at once (``core/permissions.py``)."""
    with store.edit() as state:
        email = state.account_email(account)
        state.account(email)
        retire_account(state, email)
        del state.accounts[email]
        state.account_bindings.pop(email, None)
        state.etags.pop(f"accounts/{email}", None)
        if state.metadata_account == email:
            state.metadata_account = None


def create_user(store: StateStore, email: str, *, token_uri: str, groups: Iterable[str] = ()) -> dict[str, Any]:
    """A user of the emulated directory (in ``groups``, created as needed) and its ``authorized_user`` credentials
    (what ``gcloud auth login`` keeps: gcloud's OAuth client, so its ID tokens pass the front end as a logged-in
    user's pass Cloud Run's)."""
    if not _EMAIL.match(email):
        raise EmulatorError(f"a user is named by an email address, not {email!r}")
    client_secret = secrets.token_urlsafe(24)
    refresh_token = "1//" + secrets.token_urlsafe(48)
    with store.edit() as state:
        state.users[email] = User(
            client_id=_USER_CLIENT_ID,
            client_secret_sha256=sha256_hex(client_secret),
            refresh_token_sha256=sha256_hex(refresh_token),
        )
        join_groups(state, f"user:{email}", groups)
    return {
        "type": "authorized_user",
        "client_id": _USER_CLIENT_ID,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "token_uri": token_uri,
        "account": email,
        "universe_domain": "googleapis.com",
    }


def ensure_service(
    store: StateStore,
    name: str,
    *,
    url: str,
    audiences: list[str] | None = None,
    timeout_seconds: float = 300,
    http2: bool = False,
) -> None:
    """Create or update a service's URL, custom audiences, timeout and protocol, keeping its bindings."""
    if not 0 < timeout_seconds <= 3600:
        raise EmulatorError("a Cloud Run request timeout is between 1 and 3600 seconds")
    with store.edit() as state:
        service = state.services.setdefault(name, Service(url=url.rstrip("/")))
        service.url = url.rstrip("/")
        service.audiences = list(audiences or [])
        service.timeout_seconds = timeout_seconds
        service.http2 = http2


def grant_service_role(store: StateStore, service: str, role: str, member: str) -> None:
    with store.edit() as state:
        _bind(state, f"services/{service}", state.service(service).bindings, role, member)


def revoke_service_role(store: StateStore, service: str, role: str, member: str) -> None:
    with store.edit() as state:
        members = state.service(service).bindings.get(role, [])
        if member in members:
            members.remove(member)
            state.touch_policy(f"services/{service}")


def grant_account_role(store: StateStore, account: str, role: str, member: str) -> None:
    """Bind ``member`` to ``role`` on a service account (e.g. token creator, for impersonation)."""
    with store.edit() as state:
        email = state.account_email(account)
        state.account(email)
        _bind(state, f"accounts/{email}", state.account_bindings.setdefault(email, {}), role, member)


def grant_project_role(store: StateStore, role: str, member: str) -> None:
    """Bind ``member`` to ``role`` on the emulated project (what the admin APIs check)."""
    with store.edit() as state:
        _bind(state, "project", state.project_bindings, role, member)


def _bind(state: State, resource: str, bindings: dict[str, list[str]], role: str, member: str) -> None:
    """Add one binding as ``setIamPolicy`` would, refusing what Google refuses (``core/policy_rules.py``)."""
    members = bindings.get(role, [])
    check_binding(state, resource, role, [member], already=set(members))
    if member not in members:
        bindings[role] = [*members, member]
        state.touch_policy(resource)


def grant_token_creator(store: StateStore, account: str, member: str) -> None:
    grant_account_role(store, account, TOKEN_CREATOR_ROLE, member)
