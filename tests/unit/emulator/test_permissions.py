"""The IAM evaluator decides as Google does: inheritance, basic roles, groups, domains, deleted accounts, delay."""

from __future__ import annotations

from cloudgate.emulator.core.permissions import allowed, policy_index
from cloudgate.emulator.core.state import Account, Group, PolicyChange, Service, State, User

SA = "ci@cloudgate-local.iam.gserviceaccount.com"
ALICE = "alice@example.com"
INVOKE = "run.routes.invoke"
API = "services/api"


def _state(**project: list[str]) -> State:
    state = State()
    state.accounts[SA] = Account(unique_id="111")
    state.users[ALICE] = User(client_id="c", client_secret_sha256="x", refresh_token_sha256="y", unique_id="222")
    state.services["api"] = Service(url="http://127.0.0.1:1")
    state.project_bindings = {role.replace("_", "/", 1): members for role, members in project.items()}
    return state


def test_a_project_level_invoker_invokes_every_service() -> None:
    state = _state()
    state.project_bindings["roles/run.invoker"] = [f"serviceAccount:{SA}"]
    assert allowed(state, f"serviceAccount:{SA}", INVOKE, API)


def test_owner_and_editor_invoke_viewer_does_not() -> None:
    for role, expected in (("roles/owner", True), ("roles/editor", True), ("roles/viewer", False)):
        state = _state()
        state.project_bindings[role] = [f"user:{ALICE}"]
        assert allowed(state, f"user:{ALICE}", INVOKE, API) is expected, role


def test_no_binding_anywhere_denies() -> None:
    assert not allowed(_state(), f"serviceAccount:{SA}", INVOKE, API)


def test_run_developer_and_editor_cannot_set_a_services_iam_policy_admin_and_owner_can() -> None:
    for role, expected in (
        ("roles/run.developer", False),
        ("roles/editor", False),
        ("roles/run.admin", True),
        ("roles/owner", True),
    ):
        state = _state()
        state.project_bindings[role] = [f"user:{ALICE}"]
        assert allowed(state, f"user:{ALICE}", "run.services.setIamPolicy", API) is expected, role


def test_a_role_on_one_service_does_not_reach_another() -> None:
    state = _state()
    state.services["other"] = Service(url="http://127.0.0.1:2")
    state.services["api"].bindings["roles/run.invoker"] = [f"user:{ALICE}"]
    assert allowed(state, f"user:{ALICE}", INVOKE, API)
    assert not allowed(state, f"user:{ALICE}", INVOKE, "services/other")


def test_a_group_binding_matches_members_of_nested_groups_only() -> None:
    state = _state()
    state.groups["devs@example.com"] = Group(members=["group:core@example.com"])
    state.groups["core@example.com"] = Group(members=[f"user:{ALICE}"])
    state.services["api"].bindings["roles/run.invoker"] = ["group:devs@example.com"]
    assert allowed(state, f"user:{ALICE}", INVOKE, API)
    assert not allowed(state, f"serviceAccount:{SA}", INVOKE, API)


def test_a_domain_binding_matches_users_of_that_domain_not_service_accounts() -> None:
    state = _state()
    state.users["bob@other.org"] = User(client_id="c", client_secret_sha256="x", refresh_token_sha256="y")
    state.services["api"].bindings["roles/run.invoker"] = ["domain:example.com"]
    assert allowed(state, f"user:{ALICE}", INVOKE, API)
    assert not allowed(state, "user:bob@other.org", INVOKE, API)
    assert not allowed(state, f"serviceAccount:{SA}", INVOKE, API)


def test_a_member_that_is_no_live_principal_holds_nothing() -> None:
    state = _state()
    state.project_bindings["roles/owner"] = ["serviceAccount:gone@cloudgate-local.iam.gserviceaccount.com"]
    assert not allowed(state, "serviceAccount:gone@cloudgate-local.iam.gserviceaccount.com", INVOKE, API)


def test_an_id_token_of_a_recreated_account_is_no_principal() -> None:
    """The token's ``sub`` is the deleted account's id: the new account with the same email is someone else."""
    assert policy_index(_state(), now=0).principal({"sub": "111", "email": SA}) == f"serviceAccount:{SA}"
    recreated = _state()
    recreated.accounts[SA] = Account(unique_id="999")
    assert policy_index(recreated, now=0).principal({"sub": "111", "email": SA}) is None


def test_token_creator_on_the_project_covers_every_account_owner_does_not() -> None:
    resource = f"accounts/{SA}"
    owner = _state(roles_owner=[f"user:{ALICE}"])
    assert not allowed(owner, f"user:{ALICE}", "iam.serviceAccounts.getOpenIdToken", resource)
    creator = _state(**{"roles/iam.serviceAccountTokenCreator": [f"user:{ALICE}"]})
    assert allowed(creator, f"user:{ALICE}", "iam.serviceAccounts.getOpenIdToken", resource)


def test_a_change_applies_only_after_the_propagation_delay() -> None:
    """The bindings before a change stay in effect for ``iam_propagation_seconds`` (an injected clock)."""
    state = _state()
    state.iam_propagation_seconds = 5
    state.services["api"].bindings["roles/run.invoker"] = [f"user:{ALICE}"]
    state.iam_changes.append(PolicyChange(at=100.0, resource=API, before={}))
    assert not allowed(state, f"user:{ALICE}", INVOKE, API, now=104.9)
    assert allowed(state, f"user:{ALICE}", INVOKE, API, now=105.0)


def test_a_revocation_also_waits_for_the_delay() -> None:
    state = _state()
    state.iam_propagation_seconds = 5
    state.iam_changes.append(PolicyChange(at=100.0, resource=API, before={"roles/run.invoker": [f"user:{ALICE}"]}))
    assert allowed(state, f"user:{ALICE}", INVOKE, API, now=101)
    assert not allowed(state, f"user:{ALICE}", INVOKE, API, now=106)
