"""The changes ``cloudgate emulator accounts/users/services/project/settings`` make to the state, in one table.

The state has one writer: while an emulator runs on a state folder, the CLI sends each change to that emulator's
admin API (``POST /admin/state/...``, ``PUT /admin/settings``), whose handler is the change's ``apply``; with no
emulator running, the CLI calls the same ``apply`` on the folder itself. Either way one function parses the
request (a JSON object, as the admin API receives it), checks it and changes the state; the CLI only builds the
body and prints the answer.

Example::

    change = CHANGES["accounts create"]
    change.apply(StateStore(folder), {"account": "ci-caller", "groups": []}, "http://127.0.0.1:8089/token")
    # {"email": "ci-caller@cloudgate-local.iam.gserviceaccount.com"}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cloudgate.emulator.core.state import TOKEN_CREATOR_ROLE, StateStore
from cloudgate.emulator.identity import iam
from cloudgate.errors import ConfigError
from cloudgate.google import ID_TOKEN_LIFETIME_S, INVOKER_ROLE
from cloudgate.knative import check_service_name

#: ``apply(store, body, token_url)``: ``token_url`` is the token endpoint a new key file or user names unless the
#: body gives ``token_uri`` (the running emulator's own, or the default address when none runs).
Apply = Callable[[StateStore, Mapping[str, Any], str], dict[str, Any]]

#: The bounds of the settings (the CLI's flags name them too).
MAX_TOKEN_LIFETIME_S = 43200
MAX_IAM_PROPAGATION_S = 3600


@dataclass(frozen=True, slots=True)
class StateChange:
    """One change: where the admin API takes it (``method``, ``path``) and the function that makes it."""

    path: str
    apply: Apply
    method: str = "POST"


def _text(body: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def _texts(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{key} must be a list of non-empty strings")
    return value


def _number(body: Mapping[str, Any], key: str, low: float, high: float, *, integer: bool = False) -> float | None:
    """``body[key]`` when given: a number from ``low`` to ``high`` (an integer if ``integer``), else ``None``."""
    value = body.get(key)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{key} must be {kind} from {low:g} to {high:g}")
    return value


def _create_account(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    return {"email": iam.create_account(store, _text(body, "account"), groups=_texts(body, "groups"))}


def _create_key(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    return iam.create_key(store, _text(body, "account"), token_uri=_text(body, "token_uri", token_url))


def _grant_account(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    role = _text(body, "role", TOKEN_CREATOR_ROLE)
    iam.grant_account_role(store, _text(body, "account"), role, _text(body, "member"))
    return {}


def _create_user(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    token_uri = _text(body, "token_uri", token_url)
    return iam.create_user(store, _text(body, "email"), token_uri=token_uri, groups=_texts(body, "groups"))


def _set_service(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    name, url = _text(body, "name"), _text(body, "url")
    check_service_name(name)  # InvalidResourceError: Cloud Run's own words, as gcloud gets them
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"--url {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8080")
    timeout = _number(body, "timeout_seconds", 0, 3600)  # above 0: ``ensure_service`` says so
    http2 = body.get("http2", False)
    if not isinstance(http2, bool):
        raise ConfigError("http2 must be true or false")
    audiences = _texts(body, "audiences")
    iam.ensure_service(
        store, name, url=url, audiences=audiences, timeout_seconds=300 if timeout is None else timeout, http2=http2
    )
    return {}


def _grant_service(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    iam.grant_service_role(store, _text(body, "name"), _text(body, "role", INVOKER_ROLE), _text(body, "member"))
    return {}


def _revoke_service(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    iam.revoke_service_role(store, _text(body, "name"), _text(body, "role", INVOKER_ROLE), _text(body, "member"))
    return {}


def _grant_project(store: StateStore, body: Mapping[str, Any], token_url: str) -> dict[str, Any]:
    iam.grant_project_role(store, _text(body, "role"), _text(body, "member"))
    return {}


def change_settings(store: StateStore, body: Mapping[str, Any], token_url: str = "") -> dict[str, Any]:
    """Change the settings ``body`` names (at least one) and answer them all, as ``GET /admin/settings`` does."""
    known = {"token_lifetime_seconds", "iam_propagation_seconds", "project_id", "metadata_account"}
    if not known & body.keys():
        raise ConfigError(f"give at least one setting to change: {', '.join(sorted(known))}")
    lifetime = _number(body, "token_lifetime_seconds", 1, MAX_TOKEN_LIFETIME_S, integer=True)
    propagation = _number(body, "iam_propagation_seconds", 0, MAX_IAM_PROPAGATION_S)
    project = _text(body, "project_id") if "project_id" in body else None
    account = _text(body, "metadata_account") if "metadata_account" in body else None
    with store.edit() as state:
        if propagation is not None:
            state.iam_propagation_seconds = propagation
        if lifetime is not None:
            state.token_lifetime_seconds = int(lifetime)
        if project is not None:
            state.project_id = project
        if account is not None:
            email = state.account_email(account)
            state.account(email)  # EmulatorError for an account that does not exist
            state.metadata_account = email
    return settings(store)


def settings(store: StateStore) -> dict[str, Any]:
    """The settings as ``GET /admin/settings`` answers them."""
    state = store.current()
    return {
        "token_lifetime_seconds": state.token_lifetime_seconds,
        "default_token_lifetime_seconds": ID_TOKEN_LIFETIME_S,
        "iam_propagation_seconds": state.iam_propagation_seconds,
        "project_id": state.project_id,
        "metadata_account": state.metadata_account,
    }


#: Every change, by the CLI command that asks for it.
CHANGES: dict[str, StateChange] = {
    "accounts create": StateChange("/admin/state/accounts/create", _create_account),
    "accounts key": StateChange("/admin/state/accounts/key", _create_key),
    "accounts grant": StateChange("/admin/state/accounts/grant", _grant_account),
    "users create": StateChange("/admin/state/users/create", _create_user),
    "services set": StateChange("/admin/state/services/set", _set_service),
    "services grant": StateChange("/admin/state/services/grant", _grant_service),
    "services revoke": StateChange("/admin/state/services/revoke", _revoke_service),
    "project grant": StateChange("/admin/state/project/grant", _grant_project),
    "settings": StateChange("/admin/settings", change_settings, method="PUT"),
}
