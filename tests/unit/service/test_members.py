"""``AllowedMembers``: the entries of CLOUDGATE_ALLOWED_PRINCIPALS and CLOUDGATE_DOCS_IAP_USERS, as IAM writes members."""

from __future__ import annotations

import pytest

from cloudgate.errors import ConfigError
from cloudgate.service.members import AllowedMembers


def members(*entries: str) -> AllowedMembers:
    return AllowedMembers(entries, setting="CLOUDGATE_X")


def test_a_bare_email_matches_in_any_case() -> None:
    assert members("Alice@Example.com").allows("alice@example.COM")


@pytest.mark.parametrize("entry", ["user:alice@example.com", "serviceAccount:alice@example.com"])
def test_iam_email_prefixes_match_the_email(entry: str) -> None:
    assert members(entry).allows("alice@example.com")


def test_another_email_does_not_match() -> None:
    assert not members("user:alice@example.com").allows("mallory@example.com")


def test_no_email_does_not_match() -> None:
    assert not members("user:alice@example.com").allows(None)


def test_a_domain_matches_the_signed_hosted_domain_only() -> None:
    allowed = members("domain:example.com")
    assert allowed.allows("anyone@example.com", hosted_domain="example.com")
    assert not allowed.allows("anyone@example.com")  # an email's domain is not a signed hd


def test_a_group_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(ConfigError, match="--iap-member group:"):
        members("group:team@example.com")


@pytest.mark.parametrize("entry", ["alice", "user:", "domain:", "domain:a@b.c", "allUsers", "principal://x"])
def test_an_entry_that_names_no_one_is_refused(entry: str) -> None:
    with pytest.raises(ConfigError, match="CLOUDGATE_X"):
        members(entry)


def test_an_empty_list_is_false() -> None:
    assert not members()
