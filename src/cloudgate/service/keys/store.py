"""API keys: their format, their hashes, the store interface, and the check of a presented key.

A key reads ``cgk_<id>_<secret>``: the ``cgk_`` prefix makes a leaked key recognisable (secret scanners can match
it), the 16-hex-digit id names the record so it can be revoked, and the secret is 32 random bytes. Keys are
high-entropy, so a single SHA-256 is the right hash (a slow password hash would only add per-request cost);
only that hash is stored.

Example (``open_keystore`` is in ``cloudgate.service.keys``)::

    store = open_keystore("sqlite:///keys.sqlite3")
    record, secret = store.create("etl", ["datasets:read"], expires_at=None)
    print(secret)  # shown once
    assert authenticate(store, secret).key_id == record.key_id
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio.to_thread

from cloudgate import codes
from cloudgate.errors import ConfigError, InvalidCredentialsError

KEY_PREFIX = "cgk"
_ID_HEX_LEN = 16
_SECRET_BYTES = 32
_MAX_KEY_LEN = 200
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{{_ID_HEX_LEN}}})_[A-Za-z0-9_\-]+")
_SCOPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789:._-*")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What a store keeps about one key: never the secret, only its SHA-256."""

    key_id: str
    name: str
    scopes: frozenset[str]
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        now = now or datetime.now(UTC)
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class KeyStore(abc.ABC):
    """Where key records live. Each store is a module beside this one (``sqlite``, ``file``); ``open_keystore``
    picks one by URL, and ``cache`` wraps any of them."""

    url: str
    #: How many lookups the service's cache lets run at once against this store (each in a worker thread).
    lookup_concurrency: int = 8

    @abc.abstractmethod
    def get(self, key_id: str) -> KeyRecord | None:
        """The record with this id, or None."""

    @abc.abstractmethod
    def list(self) -> list[KeyRecord]:
        """Every record, oldest first."""

    @abc.abstractmethod
    def add(self, record: KeyRecord) -> None:
        """Store a new record (its id is fresh)."""

    @abc.abstractmethod
    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        """Mark a key revoked; raises ``KeyStoreError`` if there is no such key."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    async def aget(self, key_id: str) -> KeyRecord | None:
        """``get`` off the event loop: in a worker thread (a store may wait on a disk or a network)."""
        return await anyio.to_thread.run_sync(self.get, key_id)

    def create(self, name: str, scopes: Sequence[str], expires_at: datetime | None = None) -> tuple[KeyRecord, str]:
        """Make and store a new key; returns the record and the secret (show it once, never store it)."""
        record, secret = new_key(name, scopes, expires_at)
        self.add(record)
        return record, secret


def hash_secret(key: str) -> str:
    """The stored form of a key: hex SHA-256 of the whole key string."""
    return hashlib.sha256(key.encode()).hexdigest()


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Scopes are short lowercase words like ``datasets:read``; ``*`` grants every scope."""
    clean = set()
    for scope in scopes:
        scope = scope.strip()
        if not scope or len(scope) > 64 or not set(scope) <= _SCOPE_CHARS:
            raise ConfigError(
                f"invalid scope {scope!r}: use lowercase letters, digits and : . _ - (e.g. datasets:read)"
            )
        clean.add(scope)
    return frozenset(clean)


def new_key(name: str, scopes: Sequence[str], expires_at: datetime | None) -> tuple[KeyRecord, str]:
    """Make a fresh key: the record to store and the secret to show once."""
    if not name.strip() or len(name) > 100:
        raise ConfigError("a key name must be 1-100 characters")
    if expires_at is not None and expires_at.tzinfo is None:
        raise ConfigError("expiry must be timezone-aware")
    key_id = secrets.token_hex(_ID_HEX_LEN // 2)
    secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    record = KeyRecord(
        key_id=key_id,
        name=name.strip(),
        scopes=validate_scopes(scopes),
        secret_hash=hash_secret(secret),
        created_at=datetime.now(UTC).replace(microsecond=0),
        expires_at=expires_at,
    )
    return record, secret


def parse_key_id(key: str) -> str | None:
    """The id inside a presented key, or None if it does not have the key format."""
    match = _KEY_SHAPE.fullmatch(key) if len(key) <= _MAX_KEY_LEN else None
    return match.group(1) if match else None


def authenticate(store: KeyStore, presented: str, now: datetime | None = None) -> KeyRecord:
    """The record of a presented key if it is valid, active and unexpired; else ``InvalidCredentialsError``."""
    key_id = parse_key_id(presented)
    return check_presented(store.get(key_id) if key_id else None, presented, now)


async def authenticate_async(store: KeyStore, presented: str, now: datetime | None = None) -> KeyRecord:
    """``authenticate`` for the event loop: the lookup never blocks it (``KeyStore.aget``)."""
    key_id = parse_key_id(presented)
    return check_presented(await store.aget(key_id) if key_id else None, presented, now)


def check_presented(record: KeyRecord | None, presented: str, now: datetime | None = None) -> KeyRecord:
    """``record`` if it matches the presented key and is active; else ``InvalidCredentialsError``."""
    if record is None or not hmac.compare_digest(record.secret_hash, hash_secret(presented)):
        raise InvalidCredentialsError("invalid API key", scheme="ApiKey")
    state = record.state(now)
    if state != "active":
        reason = codes.API_KEY_REVOKED if state == "revoked" else codes.API_KEY_EXPIRED
        raise InvalidCredentialsError(f"API key {record.key_id} is {state}", scheme="ApiKey", reason=reason)
    return record
