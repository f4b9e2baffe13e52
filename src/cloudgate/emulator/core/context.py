"""What every emulator endpoint shares: the state folder, the signing keys, the token issuer, counters, faults.

One ``EmulatorContext`` is built per running emulator (``server.py``) and handed to each ASGI app it assembles.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.core.iap import JWKS_PATH, IapKeys
from cloudgate.emulator.core.iap_sessions import IapSessions
from cloudgate.emulator.core.keys import SigningKeys
from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.core.tokens import TokenIssuer


class Runtime(Protocol):
    """What the control plane asks of the serving side (``serving/revisions.py``'s ``RevisionRuntime``).

    The control plane writes the state and then tells the runtime to reconcile; it never imports the serving
    side, and the serving side never imports the API handlers.
    """

    def reserve_url(self, name: str, port: int = 0) -> str: ...
    def reserve_tag_url(self, name: str, tag: str, port: int = 0) -> str: ...
    def rollout(self, name: str) -> None: ...
    def remove(self, name: str) -> None: ...
    def secret_changed(self, secret_id: str) -> None: ...


class Pool(Protocol):
    """A scaled service's instances as the admin endpoint reports them (``serving/instances.py``)."""

    def snapshot(self) -> list[dict[str, Any]]: ...


class Faults:
    """Injected failures of the front end: "answer the next N requests with status S" (client retry tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining = 0
        self._status = 503

    def set(self, count: int, status: int = 503) -> None:
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("count must be >= 0 and status an HTTP error status (400-599)")
        with self._lock:
            self._remaining, self._status = count, status

    def take(self) -> int | None:
        """The status to fail this request with, or ``None`` when no fault is pending."""
        with self._lock:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
            return self._status

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {"count": self._remaining, "status": self._status}


@dataclass
class EmulatorContext:
    """The shared parts of one emulator; ``base_url`` is where Google's endpoints answer."""

    store: StateStore
    keys: SigningKeys
    issuer: TokenIssuer
    base_url: str
    counters: Counters = field(default_factory=Counters)
    faults: Faults = field(default_factory=Faults)
    #: The instance pools of scaled services, by service name (``instances.py``).
    instances: dict[str, Pool] = field(default_factory=dict)
    #: Runs deployed revisions; set by ``serve`` once its task group exists (``None``: the admin APIs only
    #: record services, as in unit tests of the API shapes).
    runtime: Runtime | None = None
    #: IAP's ES256 signing key (``core/iap.py``); ``open`` keeps it in ``<state>/iap-signing/``.
    iap_keys: IapKeys | None = None
    #: People signed in through the emulated IAP sign-in page (``serving/iap_gate.py``).
    iap_sessions: IapSessions = field(default_factory=IapSessions)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def certs_url(self) -> str:
        return f"{self.base_url}/oauth2/v1/certs"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/oauth2/v3/certs"

    @property
    def iap_jwks_url(self) -> str:
        """IAP's public keys as Google publishes them (``https://www.gstatic.com/iap/verify/public_key-jwk``)."""
        return f"{self.base_url}{JWKS_PATH}"

    def iap_signing_keys(self) -> IapKeys:
        if self.iap_keys is None:
            self.iap_keys = IapKeys(self.store.folder / "iap-signing")
        return self.iap_keys

    @classmethod
    def open(cls, state_dir: Path, base_url: str) -> EmulatorContext:
        """The context for a state folder (created if missing) serving at ``base_url``."""
        store = StateStore(state_dir)
        keys = SigningKeys(state_dir / "signing")
        counters = Counters()
        return cls(
            store=store,
            keys=keys,
            issuer=TokenIssuer(store, keys, counters),
            base_url=base_url.rstrip("/"),
            counters=counters,
        )
