"""principal:// and principalSet:// members matched against a federated principal, as IAM matches them."""

from __future__ import annotations

import pytest

from cloudgate.emulator.core.federation import (
    FederatedPrincipal,
    is_federated_member,
    member_matches,
    pool_name,
)

_POOL = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci-pool"
_WHO = FederatedPrincipal(
    pool_name("123", "ci-pool"),
    {
        "google.subject": "repo:org/repo:ref:refs/heads/main",
        "attribute.repository": "org/repo",
        "google.groups": ["ops"],
    },
)


@pytest.mark.parametrize(
    "member",
    [
        f"principal:{_POOL}/subject/repo:org/repo:ref:refs/heads/main",
        f"principalSet:{_POOL}/attribute.repository/org/repo",
        f"principalSet:{_POOL}/group/ops",
        f"principalSet:{_POOL}/*",
    ],
)
def test_members_that_name_the_principal_match(member: str) -> None:
    assert member_matches(member, _WHO)


@pytest.mark.parametrize(
    "member",
    [
        f"principal:{_POOL}/subject/repo:org/other:ref:refs/heads/main",
        f"principalSet:{_POOL}/attribute.repository/org/other",
        f"principalSet:{_POOL}/attribute.owner/org",
        f"principalSet:{_POOL}/group/dev",
        f"principal:{_POOL}/*",
        f"principalSet:{_POOL.replace('ci-pool', 'other-pool')}/*",
        f"principalSet:{_POOL.replace('/123/', '/999/')}/*",
    ],
)
def test_members_that_name_someone_else_do_not_match(member: str) -> None:
    assert not member_matches(member, _WHO)


@pytest.mark.parametrize(
    "member",
    [
        "principalSet://iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/ci-pool/*",
        "principalSet://iam.example.com/projects/123/locations/global/workloadIdentityPools/ci-pool/*",
        f"principalSet:{_POOL}/attribute.Repo/x",
        f"principal:{_POOL}/subject/",
        f"principalSet:{_POOL}",
    ],
)
def test_malformed_federated_members_are_not_members(member: str) -> None:
    assert not is_federated_member(member)
