"""API key format, hashing and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudgate.errors import ConfigError, InvalidCredentialsError
from cloudgate.service.keys import KEY_PREFIX, authenticate, hash_secret, open_keystore, parse_key_id


@pytest.fixture
def store(tmp_path: Path):
    store = open_keystore(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    yield store
    store.close()


def test_new_key_has_prefix_id_and_high_entropy_secret(store) -> None:
    record, secret = store.create("etl", ["datasets:read"])
    prefix, key_id, rest = secret.split("_", 2)
    assert prefix == KEY_PREFIX
    assert key_id == record.key_id and len(key_id) == 16
    assert len(rest) >= 43  # 32 random bytes, base64url


def test_store_keeps_only_the_sha256_of_the_secret(store, tmp_path: Path) -> None:
    record, secret = store.create("etl", ["datasets:read"])
    assert record.secret_hash == hash_secret(secret)
    store.close()
    raw = (tmp_path / "keys.sqlite3").read_bytes()
    assert secret.encode() not in raw
    assert secret.split("_", 2)[2].encode() not in raw


def test_authenticate_returns_the_record_of_a_valid_key(store) -> None:
    record, secret = store.create("etl", ["datasets:read"])
    assert authenticate(store, secret).key_id == record.key_id


def test_authenticate_refuses_a_wrong_secret_with_a_known_id(store) -> None:
    _record, secret = store.create("etl", [])
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidCredentialsError, match="invalid API key"):
        authenticate(store, forged)


def test_authenticate_refuses_a_revoked_key(store) -> None:
    record, secret = store.create("etl", [])
    store.revoke(record.key_id, datetime.now(UTC))
    with pytest.raises(InvalidCredentialsError, match="revoked"):
        authenticate(store, secret)


def test_authenticate_refuses_an_expired_key(store) -> None:
    _, secret = store.create("etl", [], datetime.now(UTC) + timedelta(seconds=60))
    with pytest.raises(InvalidCredentialsError, match="expired"):
        authenticate(store, secret, now=datetime.now(UTC) + timedelta(seconds=61))


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "cgk",
        "cgk_",
        "xyz_0123456789abcdef_secret",
        "cgk_0123456789ABCDEF_secret",
        "cgk_0123_secret",
        "cgk_" + "a" * 300,
    ],
)
def test_malformed_keys_have_no_id(presented: str) -> None:
    assert parse_key_id(presented) is None


def test_error_messages_never_contain_the_presented_key(store) -> None:
    _, secret = store.create("etl", [])
    with pytest.raises(InvalidCredentialsError) as info:
        authenticate(store, secret + "x")
    assert secret not in str(info.value)


@pytest.mark.parametrize("scope", ["", "UPPER", "has space", "x" * 65])
def test_invalid_scopes_are_refused(store, scope: str) -> None:
    with pytest.raises(ConfigError):
        store.create("etl", [scope])


def test_unknown_keystore_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        open_keystore("redis://localhost")
