"""API key store in Firestore: one document per key, shared by every instance of a service.

``firestore://PROJECT/COLLECTION`` (the ``(default)`` database) or ``firestore://PROJECT/DATABASE/COLLECTION``.
Each key is the document ``COLLECTION/<key id>`` holding its name, scopes, SHA-256 and times; never the secret.
The client authenticates with Application Default Credentials (on Cloud Run: the service's own account, which
needs ``roles/datastore.user``); with ``FIRESTORE_EMULATOR_HOST`` set it talks to the local emulator instead.

Needs ``google-cloud-firestore`` (``pip install 'cloudgate[firestore]'``), imported only when such a URL is opened,
so services on other stores never load it. Every call has a deadline and no retries (``_READ_TIMEOUT_S``): an
unreachable Firestore becomes ``KeyStoreError`` (503 with ``Retry-After``) within seconds, not after the client
library's minute of back-off. When Firestore comes back, lookups succeed once gRPC reconnects, which it does
after its own reconnect back-off (1 s, growing to at most 2 minutes over a long outage). The service calls ``get`` from a worker thread (``KeyStore.aget``) behind the cache.

Example::

    store = open_keystore("firestore://my-project/api-keys")
    record, secret = store.create("etl", ["datasets:read"])
"""

from __future__ import annotations

import importlib
import re
import threading
from datetime import UTC, datetime
from typing import Any

from cloudgate.errors import ConfigError, KeyStoreError
from cloudgate.service.keys.store import KeyRecord, KeyStore

# Reads serve requests: a lookup that cannot finish in 5 s is answered 503. Writes come from the CLI, which can wait
# longer (the emulator's very first write, while its JVM warms up, has taken over 3 s).
_READ_TIMEOUT_S = 5.0
_WRITE_TIMEOUT_S = 20.0
_PROJECT = re.compile(r"[a-z][a-z0-9\-]{4,28}[a-z0-9]|[a-z0-9.\-:]{1,100}")
_DATABASE = re.compile(r"\(default\)|[a-z][a-z0-9\-]{2,62}")
_COLLECTION = re.compile(r"[A-Za-z0-9_\-]{1,100}")
_FIELDS = ("name", "scopes", "secret_hash", "created_at", "expires_at", "revoked_at")


def parse_url(url: str) -> tuple[str, str, str]:
    """``(project, database, collection)`` from ``firestore://PROJECT[/DATABASE]/COLLECTION``."""
    parts = url.removeprefix("firestore://").split("/")
    if len(parts) == 2:
        parts.insert(1, "(default)")
    usage = "use firestore://PROJECT/COLLECTION or firestore://PROJECT/DATABASE/COLLECTION"
    if len(parts) != 3:
        raise ConfigError(f"cannot read key store URL {url!r}: {usage}")
    project, database, collection = parts
    for value, shape, what in ((project, _PROJECT, "project"), (database, _DATABASE, "database"),
                               (collection, _COLLECTION, "collection")):  # fmt: skip
        if not shape.fullmatch(value):
            raise ConfigError(f"invalid Firestore {what} {value!r} in {url!r}: {usage}")
    return project, database, collection


def _import_firestore() -> Any:
    try:
        firestore = importlib.import_module("google.cloud.firestore")
    except ImportError as exc:
        raise ConfigError(
            "CLOUDGATE_KEYSTORE=firestore://... needs google-cloud-firestore: pip install 'cloudgate[firestore]'"
        ) from exc
    return firestore


def _utc(value: Any) -> datetime | None:
    """Firestore's timestamp (a datetime subclass with nanoseconds) as a plain aware datetime, or None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise KeyStoreError(f"a key record holds a {type(value).__name__} where a timestamp belongs")
    value = value.astimezone(UTC)
    return datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC
    )


def _record(key_id: str, data: dict[str, Any]) -> KeyRecord:
    try:
        created = _utc(data["created_at"])
        assert created is not None
        return KeyRecord(
            key_id=key_id,
            name=str(data["name"]),
            scopes=frozenset(str(scope) for scope in data["scopes"]),
            secret_hash=str(data["secret_hash"]),
            created_at=created,
            expires_at=_utc(data.get("expires_at")),
            revoked_at=_utc(data.get("revoked_at")),
        )
    except (KeyError, TypeError, AssertionError) as exc:
        raise KeyStoreError(f"the Firestore document for key {key_id} is not a key record") from exc


class FirestoreKeyStore(KeyStore):
    """Key records as documents of one Firestore collection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.project, self.database, self.collection = parse_url(url)
        self._firestore = _import_firestore()
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions

        self._errors = (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError)
        self._conflict = api_exceptions.Conflict
        self._client: Any = None
        self._lock = threading.Lock()

    def _collection(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._firestore.Client(project=self.project, database=self.database)
                except self._errors as exc:
                    raise KeyStoreError(f"cannot open Firestore for {self.url}: {exc}") from exc
            return self._client.collection(self.collection)

    def get(self, key_id: str) -> KeyRecord | None:
        try:
            snapshot = self._collection().document(key_id).get(retry=None, timeout=_READ_TIMEOUT_S)
        except self._errors as exc:
            raise KeyStoreError(f"cannot read {self.url}: {_describe(exc)}") from exc
        return _record(key_id, snapshot.to_dict() or {}) if snapshot.exists else None

    def list(self) -> list[KeyRecord]:
        try:
            query = self._collection().order_by("created_at")
            return [_record(doc.id, doc.to_dict() or {}) for doc in query.stream(retry=None, timeout=_WRITE_TIMEOUT_S)]
        except self._errors as exc:
            raise KeyStoreError(f"cannot read {self.url}: {_describe(exc)}") from exc

    def add(self, record: KeyRecord) -> None:
        data = {
            "name": record.name,
            "scopes": sorted(record.scopes),
            "secret_hash": record.secret_hash,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "revoked_at": record.revoked_at,
        }
        try:
            self._collection().document(record.key_id).create(data, retry=None, timeout=_WRITE_TIMEOUT_S)
        except self._conflict as exc:
            raise KeyStoreError(f"a key with id {record.key_id} already exists in {self.url}") from exc
        except self._errors as exc:
            raise KeyStoreError(f"cannot write {self.url}: {_describe(exc)}") from exc

    def revoke(self, key_id: str, at: datetime) -> KeyRecord:
        """Set ``revoked_at`` unless it is set already (the first revocation time stays), in one transaction."""
        collection = self._collection()
        reference = collection.document(key_id)

        @self._firestore.transactional  # type: ignore[untyped-decorator]
        def revoke_once(transaction: Any) -> dict[str, Any] | None:
            snapshot = reference.get(transaction=transaction, retry=None, timeout=_WRITE_TIMEOUT_S)
            if not snapshot.exists:
                return None
            data: dict[str, Any] = snapshot.to_dict() or {}
            if data.get("revoked_at") is None:
                transaction.update(reference, {"revoked_at": at})
                data["revoked_at"] = at
            return data

        try:
            data = revoke_once(self._client.transaction())
        except self._errors as exc:
            raise KeyStoreError(f"cannot write {self.url}: {_describe(exc)}") from exc
        if data is None:
            raise KeyStoreError(f"no API key with id {key_id!r}")
        return _record(key_id, data)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _describe(exc: Exception) -> str:
    """A one-line cause for the log (grpc's messages run over several lines)."""
    return " ".join(str(exc).split())[:300]
