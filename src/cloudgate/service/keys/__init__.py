"""API keys and where they are kept: the key format and store interface (``store``), one module per store
(``sqlite``, ``file``), the read cache (``cache``), and ``open_keystore(url)``, the one way to open a store.

The store modules import ``store`` only, and this module imports them lazily inside ``open_keystore``, so there is
no import cycle and a store's own dependencies load only when its URL is used. A new store is a module here plus
one branch below.

Example::

    from cloudgate.service.keys import authenticate, open_keystore

    store = open_keystore("sqlite:///keys.sqlite3")
    record, secret = store.create("etl", ["datasets:read"], expires_at=None)
    assert authenticate(store, secret).key_id == record.key_id
"""

from __future__ import annotations

from cloudgate.errors import ConfigError as _ConfigError
from cloudgate.service.keys.store import (
    KEY_PREFIX,
    KeyRecord,
    KeyStore,
    authenticate,
    authenticate_async,
    hash_secret,
    new_key,
    parse_key_id,
    validate_scopes,
)

__all__ = [
    "KEY_PREFIX",
    "KeyRecord",
    "KeyStore",
    "authenticate",
    "authenticate_async",
    "hash_secret",
    "new_key",
    "open_keystore",
    "parse_key_id",
    "validate_scopes",
]


def open_keystore(url: str, *, create: bool = True) -> KeyStore:
    """A store from its URL: ``sqlite:///path`` (read-write), ``file:///path.json`` (hashes only, re-read on change)
    or ``firestore://PROJECT[/DATABASE]/COLLECTION`` (shared by every instance; needs the ``firestore`` extra)."""
    if url.startswith("sqlite:///"):
        from cloudgate.service.keys.sqlite import SqliteKeyStore

        return SqliteKeyStore(url, create=create)
    if url.startswith("file:///") or url.startswith("file://"):
        from cloudgate.service.keys.file import FileKeyStore

        return FileKeyStore(url)
    if url.startswith("firestore://"):
        from cloudgate.service.keys.firestore import FirestoreKeyStore

        return FirestoreKeyStore(url)
    raise _ConfigError(
        f"unknown key store {url!r}: use sqlite:///path, file:///path.json or firestore://PROJECT[/DATABASE]/COLLECTION"
    )
