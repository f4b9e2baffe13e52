"""The emulator's state: service accounts, users, services and IAM bindings, kept as JSON in one folder.

Everything the emulator knows lives in ``<folder>/state.json`` (default ``.cloudgate/emulator``), so the CLI and a
running emulator share it: the CLI edits the file, a running emulator notices the change (by modification time)
and reloads it. Only public keys and hashes of secrets are stored here; private signing keys live beside it in
``<folder>/signing/`` (mode 0600) and service-account private keys only in the key files handed to users.

Example::

    store = StateStore(Path(".cloudgate/emulator"))
    with store.edit() as state:
        state.accounts["ci@cloudgate-local.iam.gserviceaccount.com"] = Account(unique_id=new_unique_id())
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_DEFAULT_TIMEOUT_S, ID_TOKEN_LIFETIME_S

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(".cloudgate/emulator")
DEFAULT_PROJECT_ID = "cloudgate-local"
TOKEN_CREATOR_ROLE = "roles/iam.serviceAccountTokenCreator"  # noqa: S105 - a role name
_STATE_FILE = "state.json"
#: Written by a running emulator: where it answers (``cloudgate emulator gcloud-env`` reads it).
ADDRESS_FILE = "emulator.json"


def new_unique_id() -> str:
    """A 21-digit numeric id, the shape of a Google service account's ``sub`` / ``client_id``."""
    return "1" + "".join(secrets.choice("0123456789") for _ in range(20))


@dataclass
class Account:
    """A service account: its numeric id and the public halves of its keys (``kid -> PEM``)."""

    unique_id: str
    display_name: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    description: str = ""
    #: When each key was made (RFC 3339), for the IAM API's ``validAfterTime``.
    key_created: dict[str, str] = field(default_factory=dict)


@dataclass
class User:
    """A user (``gcloud auth application-default login`` style); only hashes of its secrets are kept."""

    client_id: str
    client_secret_sha256: str
    refresh_token_sha256: str
    unique_id: str = field(default_factory=new_unique_id)


#: The region gcloud uses when none is given (``run/region`` of ``gcloud-env``), where the CLI's services live.
DEFAULT_REGION = "us-central1"


def service_key(region: str, name: str) -> str:
    """Where a service is kept in ``State.services``: names are unique per region, as on Cloud Run.

    A service of the default region is kept under its bare name (every service the CLI makes lives there);
    one elsewhere under ``REGION/NAME``.
    """
    return name if region in (DEFAULT_REGION, "") else f"{region}/{name}"


@dataclass
class Service:
    """A Cloud Run service as the front end sees it: URL, custom audiences, timeout, IAM bindings, protocol.

    Services deployed through the Cloud Run admin API (``run_api.py``) also keep their Knative object
    (``resource``: metadata and spec as last written, ``status`` as last computed) and their region; services
    set up by the CLI or ``cloudgate dev`` leave those empty.
    """

    url: str
    audiences: list[str] = field(default_factory=list)
    timeout_seconds: float = CLOUD_RUN_DEFAULT_TIMEOUT_S
    bindings: dict[str, list[str]] = field(default_factory=dict)
    #: ``--no-invoker-iam-check``: the front end forwards every request unchecked.
    invoker_iam_check: bool = True
    #: ``--iap``: Identity-Aware Proxy signs people in and checks them before the invoker check (``iap_gate.py``).
    iap: bool = False
    #: Deployed with ``--use-http2``: the front end speaks h2c to it and lifts the 32 MiB caps.
    http2: bool = False
    region: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    #: How many revisions were created (the next one is ``NAME-{n+1:05d}-xyz``).
    revision_count: int = 0
    #: The newest revisions by name: template metadata and spec, creation time, and readiness.
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Each traffic tag's own URL (a port of its own; Google's is ``https://TAG---SERVICE-HASH.a.run.app``).
    tag_urls: dict[str, str] = field(default_factory=dict)

    def accepted_audiences(self) -> frozenset[str]:
        """The service URL (always) plus its custom audiences."""
        return frozenset([self.url, *self.audiences])

    def members(self, role: str) -> list[str]:
        return self.bindings.get(role, [])


@dataclass
class SecretVersion:
    """One version of a secret: ``ENABLED``, ``DISABLED`` or ``DESTROYED``; its payload is a file, not state."""

    state: str = "ENABLED"
    create_time: str = ""


@dataclass
class Secret:
    """A Secret Manager secret: labels, creation time, versions (``"1"``, ``"2"``, ...) and IAM bindings."""

    create_time: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    versions: dict[str, SecretVersion] = field(default_factory=dict)
    bindings: dict[str, list[str]] = field(default_factory=dict)

    def latest_enabled(self) -> str | None:
        """The highest enabled version number, or ``None`` when none is enabled."""
        enabled = [int(n) for n, v in self.versions.items() if v.state == "ENABLED"]
        return str(max(enabled)) if enabled else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Secret:
        versions = {k: SecretVersion(**v) for k, v in data.get("versions", {}).items()}
        return cls(
            create_time=data.get("create_time", ""),
            labels=data.get("labels", {}),
            versions=versions,
            bindings=data.get("bindings", {}),
        )


@dataclass
class Group:
    """A Google group of the emulated directory: its members as IAM members (``user:``, ``serviceAccount:``,
    ``group:`` for a nested group)."""

    members: list[str] = field(default_factory=list)


@dataclass
class PolicyChange:
    """An IAM policy change not yet in effect everywhere (``iam_propagation_seconds``): when, where, and the
    bindings the resource had before it."""

    at: float
    resource: str
    before: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class WorkloadProvider:
    """An OIDC provider of a workload identity pool: whose tokens it trusts and how it maps their claims."""

    issuer_uri: str
    attribute_mapping: dict[str, str] = field(default_factory=dict)
    attribute_condition: str = ""
    #: Empty: the token's ``aud`` must be the provider's own name (``https://iam.googleapis.com/projects/...``).
    allowed_audiences: list[str] = field(default_factory=list)
    #: ``--jwk-json-path``: the issuer's JWKS inline (then its discovery document is never fetched).
    jwks_json: str = ""
    display_name: str = ""
    description: str = ""
    disabled: bool = False


@dataclass
class WorkloadPool:
    """A workload identity pool (``projects/NUMBER/locations/global/workloadIdentityPools/ID``) and its providers."""

    display_name: str = ""
    description: str = ""
    disabled: bool = False
    providers: dict[str, WorkloadProvider] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkloadPool:
        providers = {k: WorkloadProvider(**v) for k, v in data.get("providers", {}).items()}
        return cls(
            display_name=data.get("display_name", ""),
            description=data.get("description", ""),
            disabled=bool(data.get("disabled", False)),
            providers=providers,
        )


@dataclass
class State:
    """Everything the emulator knows; ``to_json``/``from_json`` round-trip it."""

    project_id: str = DEFAULT_PROJECT_ID
    project_number: str = "123456789012"
    token_lifetime_seconds: int = ID_TOKEN_LIFETIME_S
    metadata_account: str | None = None
    accounts: dict[str, Account] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    #: IAM bindings on service accounts: ``email -> role -> members`` (token creator for impersonation).
    account_bindings: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: The project's own IAM policy (read by ``projects get-iam-policy``; checked by the admin APIs).
    project_bindings: dict[str, list[str]] = field(default_factory=dict)
    #: Secret Manager secrets (metadata only: payloads live in ``<folder>/secrets/``, mode 0600).
    secrets: dict[str, Secret] = field(default_factory=dict)
    #: The etag of each IAM policy, by resource (``services/NAME``, ``accounts/EMAIL``, ``secrets/NAME``).
    etags: dict[str, str] = field(default_factory=dict)
    #: The emulated directory's groups, by email (users are ``users``; a user's domain is its email's).
    groups: dict[str, Group] = field(default_factory=dict)
    #: How long an IAM change takes to apply (Google: seconds to minutes); 0 applies it at once.
    iam_propagation_seconds: float = 0
    #: Changes still propagating, oldest first (kept only while ``iam_propagation_seconds`` is above 0).
    iam_changes: list[PolicyChange] = field(default_factory=list)
    #: Workload identity pools by id (all in ``locations/global``, as Google has them).
    workload_pools: dict[str, WorkloadPool] = field(default_factory=dict)
    #: IAP's own policy of each Cloud Run service, by service key (``gcloud beta iap web add-iam-policy-binding
    #: --resource-type=cloud-run``): not the service's Cloud Run policy, as on Google.
    iap_bindings: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def all_bindings(self) -> dict[str, dict[str, list[str]]]:
        """Every IAM policy's bindings by resource key (``project``, ``services/N``, ``accounts/E``, ``secrets/N``,
        ``iap_web/N``)."""
        found: dict[str, dict[str, list[str]]] = {"project": self.project_bindings}
        found.update((f"services/{name}", service.bindings) for name, service in self.services.items())
        found.update((f"accounts/{email}", bindings) for email, bindings in self.account_bindings.items())
        found.update((f"secrets/{name}", secret.bindings) for name, secret in self.secrets.items())
        found.update((f"iap_web/{key}", bindings) for key, bindings in self.iap_bindings.items())
        return found

    def touch_policy(self, resource: str) -> None:
        """Record that ``resource``'s IAM bindings changed: a new etag, so stale read-modify-writes fail."""
        self.etags[resource] = base64.b64encode(secrets.token_bytes(8)).decode()

    def account_email(self, account_id: str) -> str:
        """The full email of a service account given its short id (``ci``) or its email."""
        if "@" in account_id:
            return account_id
        return f"{account_id}@{self.project_id}.iam.gserviceaccount.com"

    def account(self, email: str) -> Account:
        try:
            return self.accounts[email]
        except KeyError:
            raise EmulatorError(f"no service account {email!r} in the emulator") from None

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise EmulatorError(f"no service {name!r} in the emulator") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        try:
            return cls(
                project_id=data.get("project_id", DEFAULT_PROJECT_ID),
                project_number=data.get("project_number", "123456789012"),
                token_lifetime_seconds=int(data.get("token_lifetime_seconds", ID_TOKEN_LIFETIME_S)),
                metadata_account=data.get("metadata_account"),
                accounts={k: Account(**v) for k, v in data.get("accounts", {}).items()},
                users={k: User(**v) for k, v in data.get("users", {}).items()},
                services={k: Service(**v) for k, v in data.get("services", {}).items()},
                account_bindings=data.get("account_bindings", {}),
                project_bindings=data.get("project_bindings", {}),
                secrets={k: Secret.from_json(v) for k, v in data.get("secrets", {}).items()},
                etags=data.get("etags", {}),
                groups={k: Group(**v) for k, v in data.get("groups", {}).items()},
                iam_propagation_seconds=float(data.get("iam_propagation_seconds", 0)),
                iam_changes=[PolicyChange(**change) for change in data.get("iam_changes", [])],
                workload_pools={k: WorkloadPool.from_json(v) for k, v in data.get("workload_pools", {}).items()},
                iap_bindings=data.get("iap_bindings", {}),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise EmulatorError(f"the emulator state file is malformed: {exc}") from exc


class StateStore:
    """The state folder: reads ``state.json`` (reloading when it changed on disk) and writes it atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path = folder / _STATE_FILE
        self._lock = threading.RLock()
        self._state: State | None = None
        self._stamp: tuple[int, int, int] = (-1, -1, -1)
        #: When IAM changes are recorded as made (``iam_propagation_seconds``); tests inject their own.
        self.clock: Callable[[], float] = time.time

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> State:
        """The state as on disk now (cheap: one ``stat`` unless the file changed)."""
        with self._lock:
            stamp = self._file_stamp()
            if self._state is None or stamp != self._stamp:
                self._state = self._read()
                self._stamp = stamp
            return self._state

    def _file_stamp(self) -> tuple[int, int, int]:
        # Inode too: the CLI replaces the file atomically, which a coarse mtime alone could miss.
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    @contextlib.contextmanager
    def edit(self) -> Iterator[State]:
        """Change the state and write it back when the block ends without an error."""
        with self._lock:
            state = State.from_json(self.current().to_json())  # a copy: a failed edit changes nothing
            yield state
            _record_policy_changes(self.current(), state, self.clock())
            self._write(state)

    def _read(self) -> State:
        if not self._path.exists():
            return State()
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise EmulatorError(f"cannot read the emulator state {self._path}: {exc}") from exc
        if not isinstance(data, dict):
            raise EmulatorError(f"the emulator state {self._path} is not a JSON object")
        return State.from_json(data)

    def _write(self, state: State) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state.to_json(), handle, indent=2, sort_keys=True)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._state = state
        self._stamp = self._file_stamp()
        logger.debug("emulator state written to %s", self._path)


def _normal(bindings: dict[str, list[str]]) -> dict[str, list[str]]:
    return {role: sorted(members) for role, members in bindings.items() if members}


def _record_policy_changes(before: State, after: State, now: float) -> None:
    """With a propagation delay, remember each changed policy's previous bindings (``iam_evaluator`` applies
    them until the delay has passed); changes already in effect are dropped."""
    delay = after.iam_propagation_seconds
    if delay <= 0:
        after.iam_changes.clear()
        return
    after.iam_changes[:] = [change for change in after.iam_changes if change.at + delay > now]
    old, new = before.all_bindings(), after.all_bindings()
    for resource in sorted(old.keys() | new.keys()):
        previous = _normal(old.get(resource, {}))
        if previous != _normal(new.get(resource, {})):
            after.iam_changes.append(PolicyChange(at=now, resource=resource, before=previous))


def write_address(folder: Path, url: str, *, iap_jwks: str = "") -> None:
    """Record in the state folder that an emulator answers at ``url`` (removed when it stops), and where it
    publishes IAP's public keys (``iap_jwks``: what ``CLOUDGATE_IAP_JWKS_URL`` of a service behind it names)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"url": url, "pid": os.getpid(), **({"iap_jwks": iap_jwks} if iap_jwks else {})}
    # Whole or not at all: a CLI reading a half-written file would take the emulator for stopped and write the
    # state itself (``read_address``), next to the emulator that is its one writer.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".emulator-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        os.replace(tmp, folder / ADDRESS_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_address(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (folder / ADDRESS_FILE).unlink()


def read_address(folder: Path) -> str | None:
    """The URL of the emulator running on ``folder``, or ``None`` when none is (or it died)."""
    try:
        data = json.loads((folder / ADDRESS_FILE).read_text(encoding="utf-8"))
        pid, url = int(data["pid"]), str(data["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return url
