"""Password hashing and loading the docs users from the setting and the users file."""

from __future__ import annotations

from pathlib import Path

import argon2
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import ConfigError
from cloudgate.service.passwords import (
    dummy_hash_like,
    hash_password,
    is_argon2_hash,
    load_docs_users,
    verify_password,
)
from cloudgate.service.settings import ServiceSettings

# Cheap argon2 for tests; production uses pwdlib's recommended cost.
_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return _CHEAP.hash("alice's long password")


@pytest.fixture(scope="module")
def bob_hash() -> str:
    return _CHEAP.hash("bob's long password")


def test_hash_password_makes_an_argon2id_hash_at_the_recommended_cost() -> None:
    hashed = hash_password("correct horse battery staple")
    parameters = argon2.extract_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    assert parameters.type is argon2.Type.ID
    assert parameters.time_cost >= argon2.DEFAULT_TIME_COST
    assert parameters.memory_cost >= argon2.DEFAULT_MEMORY_COST
    assert verify_password("correct horse battery staple", hashed)
    assert not verify_password("correct horse battery stapler", hashed)


def test_verify_password_is_false_not_an_error_for_a_value_that_is_not_argon2() -> None:
    assert verify_password("secret", "secret") is False
    assert verify_password("secret", "$2b$12$abcdefghijklmnopqrstuv") is False


def test_is_argon2_hash_accepts_only_well_formed_argon2id(alice_hash: str) -> None:
    assert is_argon2_hash(alice_hash)
    assert not is_argon2_hash(alice_hash.replace("argon2id", "argon2i", 1))
    assert not is_argon2_hash(alice_hash[:20])
    assert not is_argon2_hash(alice_hash[:-10])  # a cut-off digest still parses, but is not what we make
    assert not is_argon2_hash("plain-text-password")


def test_no_users_configured_loads_an_empty_mapping() -> None:
    assert load_docs_users(ServiceSettings()) == {}


def test_comma_separated_entries_load_although_each_hash_contains_commas(alice_hash: str, bob_hash: str) -> None:
    settings = ServiceSettings(docs_users=f"alice:{alice_hash}, bob:{bob_hash}")
    assert load_docs_users(settings) == {"alice": alice_hash, "bob": bob_hash}


def test_newline_separated_entries_load(alice_hash: str, bob_hash: str) -> None:
    settings = ServiceSettings(docs_users=f"alice:{alice_hash}\nbob:{bob_hash}\n")
    assert load_docs_users(settings) == {"alice": alice_hash, "bob": bob_hash}


def test_users_file_allows_comments_and_blank_lines_and_adds_to_the_setting(
    tmp_path: Path, alice_hash: str, bob_hash: str
) -> None:
    users_file = tmp_path / "docs-users"
    users_file.write_text(f"# docs users\n\n  bob:{bob_hash}  \n# end\n")
    settings = ServiceSettings(docs_users=f"alice:{alice_hash}", docs_users_file=users_file)
    assert load_docs_users(settings) == {"alice": alice_hash, "bob": bob_hash}


def test_a_bad_line_in_the_users_file_names_the_line_but_not_the_hash(tmp_path: Path, alice_hash: str) -> None:
    truncated = alice_hash[:-10]
    users_file = tmp_path / "docs-users"
    users_file.write_text(f"# comment\nalice:{alice_hash}\n\ncarol:{truncated}\n")
    with pytest.raises(ConfigError) as caught:
        load_docs_users(ServiceSettings(docs_users_file=users_file))
    message = str(caught.value)
    assert "line 4" in message
    assert "carol" in message
    assert truncated not in message
    assert "$argon2" not in message


def test_a_plain_password_instead_of_a_hash_is_refused_without_repeating_it(alice_hash: str) -> None:
    settings = ServiceSettings(docs_users=f"alice:{alice_hash},bob:hunter2-plaintext")
    with pytest.raises(ConfigError) as caught:
        load_docs_users(settings)
    assert "entry 2" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_an_entry_without_a_colon_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_docs_users(ServiceSettings(docs_users="just-a-secret-value"))
    assert "entry 1" in str(caught.value)
    assert "just-a-secret-value" not in str(caught.value)


def test_a_user_configured_twice_is_refused(tmp_path: Path, alice_hash: str) -> None:
    users_file = tmp_path / "docs-users"
    users_file.write_text(f"alice:{alice_hash}\n")
    with pytest.raises(ConfigError, match="'alice' is configured twice"):
        load_docs_users(ServiceSettings(docs_users=f"alice:{alice_hash}", docs_users_file=users_file))


def test_a_missing_users_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_docs_users(ServiceSettings(docs_users_file=missing))
    assert str(missing) in str(caught.value)


def test_dummy_hash_costs_the_same_as_the_hash_it_imitates(alice_hash: str) -> None:
    dummy = dummy_hash_like(alice_hash)
    assert dummy != alice_hash
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(alice_hash)
    assert not verify_password("alice's long password", dummy)


def test_docs_users_with_different_argon2_costs_are_refused() -> None:
    """Unknown users are checked against one dummy hash: mixed costs would let timing reveal which names exist."""
    import argon2

    from cloudgate.service.passwords import load_docs_users
    from cloudgate.service.settings import ServiceSettings

    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    dearer = argon2.PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
    same = f"a:{cheap.hash('password-one-long')},b:{cheap.hash('password-two-long')}"
    assert set(load_docs_users(ServiceSettings(docs_users=same))) == {"a", "b"}
    mixed = f"a:{cheap.hash('password-one-long')},b:{dearer.hash('password-two-long')}"
    with pytest.raises(ConfigError, match="argon2 cost differs") as info:
        load_docs_users(ServiceSettings(docs_users=mixed))
    assert "$argon2" not in str(info.value)
