"""What Google lets into a policy: grantable roles per resource type, well-formed members, existing accounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudgate.emulator.core.policy_rules import BindingError, check_binding, retire_account
from cloudgate.emulator.core.roles import ROLES, grantable
from cloudgate.emulator.core.state import Account, Group, State, User

SA = "ci@cloudgate-local.iam.gserviceaccount.com"


def _state() -> State:
    state = State()
    state.accounts[SA] = Account(unique_id="111")
    return state


def test_an_unknown_role_is_not_supported() -> None:
    with pytest.raises(BindingError, match=r"^Role roles/nonexistent.role is not supported for this resource\.$"):
        check_binding(_state(), "project", "roles/nonexistent.role", ["allUsers"], already=set())


def test_a_storage_role_is_valid_on_the_project_but_not_on_a_service() -> None:
    check_binding(_state(), "project", "roles/storage.admin", [f"serviceAccount:{SA}"], already=set())
    with pytest.raises(BindingError, match=r"roles/storage\.admin is not supported for this resource"):
        check_binding(_state(), "services/api", "roles/storage.admin", [f"serviceAccount:{SA}"], already=set())


def test_the_invoker_role_is_not_grantable_on_a_service_account() -> None:
    assert grantable("roles/iam.serviceAccountUser", "account")
    assert not grantable("roles/run.invoker", "account")


def test_a_service_account_of_the_project_must_exist() -> None:
    ghost = "serviceAccount:ghost@cloudgate-local.iam.gserviceaccount.com"
    with pytest.raises(BindingError, match=r"^Service account ghost@cloudgate-local\.iam\.gserviceaccount\.com does"):
        check_binding(_state(), "services/api", "roles/run.invoker", [ghost], already=set())


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("user:nobody@example.com", "User nobody@example.com does not exist."),
        ("group:nothing@example.com", "Group nothing@example.com does not exist."),
    ],
)
def test_a_user_or_group_outside_the_directory_does_not_exist(member: str, message: str) -> None:
    with pytest.raises(BindingError, match=f"^{re.escape(message)}$"):
        check_binding(_state(), "services/api", "roles/run.invoker", [member], already=set())


def test_users_and_groups_of_the_directory_may_be_bound() -> None:
    state = _state()
    state.users["alice@example.com"] = User(client_id="c", client_secret_sha256="s", refresh_token_sha256="r")
    state.groups["devs@example.com"] = Group(members=["user:alice@example.com"])
    members = ["user:alice@example.com", "group:devs@example.com", "domain:example.com"]
    check_binding(state, "services/api", "roles/run.invoker", members, already=set())


def test_members_already_bound_are_not_rechecked() -> None:
    """A read-modify-write sends back deleted and vanished members; Google keeps them."""
    ghost = "serviceAccount:ghost@cloudgate-local.iam.gserviceaccount.com"
    check_binding(_state(), "services/api", "roles/run.invoker", [ghost], already={ghost})


@pytest.mark.parametrize("member", ["user:nobody", "group:", "domain:", "everyone", "user:a b@example.com"])
def test_a_malformed_member_is_refused(member: str) -> None:
    with pytest.raises(BindingError, match="Invalid principal"):
        check_binding(_state(), "services/api", "roles/run.invoker", [member], already=set())


def test_a_deleted_member_is_accepted() -> None:
    check_binding(_state(), "services/api", "roles/run.invoker", [f"deleted:serviceAccount:{SA}?uid=1"], already=set())


def test_retiring_an_account_rewrites_its_bindings_and_drops_it_from_groups() -> None:
    state = _state()
    state.project_bindings["roles/run.invoker"] = [f"serviceAccount:{SA}", "user:alice@example.com"]
    state.groups["devs@example.com"] = Group(members=[f"serviceAccount:{SA}"])
    retire_account(state, SA)
    assert state.project_bindings["roles/run.invoker"] == [
        f"deleted:serviceAccount:{SA}?uid=111",
        "user:alice@example.com",
    ]
    assert state.groups["devs@example.com"].members == []
    assert "project" in state.etags


def test_the_table_knows_the_roles_of_the_issue() -> None:
    assert "run.services.setIamPolicy" not in ROLES["roles/run.developer"].permissions
    assert "run.services.setIamPolicy" not in ROLES["roles/editor"].permissions
    assert "iam.serviceAccounts.actAs" in ROLES["roles/iam.serviceAccountUser"].permissions
    assert "resourcemanager.projects.setIamPolicy" in ROLES["roles/owner"].permissions


def test_the_docs_list_every_role_the_table_knows() -> None:
    """docs/emulator.md's role table is the table's, so a role added to one cannot be missing from the other."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "emulator.md").read_text(encoding="utf-8")
    assert [name for name in ROLES if f"| `{name}` | {ROLES[name].title} |" not in docs] == []
