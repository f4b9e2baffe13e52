"""RSA keys: the emulator's own signing keys (with rotation) and the certs documents that publish them.

Google signs ID tokens with a few RSA keys at a time and publishes their public halves twice: as
``{kid: x509 certificate PEM}`` (``oauth2/v1/certs``) and as JWKS (``oauth2/v3/certs``). The emulator does the
same: ``SigningKeys`` keeps the current key and the one before it (so tokens signed just before a rotation still
verify), stored as PEM files (mode 0600) in ``<state>/signing/``.

Example::

    keys = SigningKeys(Path(".cloudgate/emulator/signing"))
    token = keys.sign({"iss": "https://accounts.google.com", "aud": "x"})
    keys.rotate()
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cloudgate.emulator.core.certificates import build_certificate

logger = logging.getLogger(__name__)

#: Google publishes two keys at a time; the emulator keeps the current one and its predecessor.
_KEPT_KEYS = 2
_CERT_VALIDITY = datetime.timedelta(days=14)


def generate_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key, the size Google uses for ID tokens and service-account keys."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM, the form Google's key files carry in ``private_key``."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_key_id() -> str:
    """A 40-hex-digit key id, the shape of Google's ``kid`` and ``private_key_id``."""
    return secrets.token_hex(20)


def _self_signed_cert(kid: str, key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cloudgate-emulator-{kid[:8]}")])
    return build_certificate(name, key, valid_for=_CERT_VALIDITY).public_bytes(serialization.Encoding.PEM).decode()


class SigningKeys:
    """The emulator's ID-token signing keys, newest last, persisted in one folder.

    The front end checks a token on every request, so the folder is not read per call: the loaded keys are
    trusted for ``rescan_seconds`` (1 s), after which one listing of the folder (key files are written once
    and named ``SERIAL-KID.pem``, so the names say everything) shows whether another process, such as
    ``cloudgate emulator rotate-keys``, changed them. ``rotate()`` in this process reloads at once, and two
    cases look again at once, with one ``stat`` of the folder: signing (so a token never carries a key the
    CLI just retired) and a token whose ``kid`` is unknown (so a key rotated by the CLI is honoured at once).
    """

    def __init__(self, folder: Path, *, rescan_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.folder = folder
        self._lock = threading.RLock()
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self._public: dict[str, rsa.RSAPublicKey] = {}
        self._certs: dict[str, str] = {}
        self._names: tuple[str, ...] = ()
        self._folder_stamp: tuple[int, int] | None = None
        self._rescan_seconds = rescan_seconds
        self._clock = clock
        self._checked_at = -math.inf

    def _refresh(self, *, now: bool = False) -> None:
        """Keep the loaded keys current: a folder listing at most every ``rescan_seconds``; ``now`` to look
        at once, which costs one ``stat`` of the folder when nothing changed."""
        if self._keys and not now and self._clock() - self._checked_at < self._rescan_seconds:
            return
        with self._lock:
            if self._keys and now and self._stat_folder() == self._folder_stamp:
                return
            self._load()

    def _stat_folder(self) -> tuple[int, int] | None:
        # Creating or removing a key file changes the folder's mtime/ctime; None when the folder is gone.
        try:
            st = os.stat(self.folder)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ctime_ns)

    def _list(self) -> list[str]:
        try:
            return sorted(name for name in os.listdir(self.folder) if name.endswith(".pem"))
        except FileNotFoundError:
            return []

    def _load(self) -> None:
        """(Re)read the folder if its key files changed; create the folder and the first key if there is none."""
        self._checked_at = self._clock()
        # The stamp is taken before listing: a change made while listing then shows on the next look.
        self._folder_stamp = self._stat_folder()
        names = self._list()
        if not names:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._write_new_key()
            self._folder_stamp = self._stat_folder()
            names = self._list()
        if self._keys and tuple(names) == self._names:
            return
        keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        for name in names:
            path = self.folder / name
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path} is not an RSA key")
            keys.append((path.stem.split("-", 1)[1], loaded))
        self._keys = keys
        self._public = {kid: key.public_key() for kid, key in keys}
        self._certs = {kid: _self_signed_cert(kid, key) for kid, key in keys}
        self._names = tuple(names)

    def _write_new_key(self) -> str:
        kid = new_key_id()
        existing = sorted(self.folder.glob("*.pem"), key=lambda p: p.name)
        serial = int(existing[-1].name.split("-", 1)[0]) + 1 if existing else 1
        path = self.folder / f"{serial:06d}-{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_pem(generate_rsa_key()))
        for old in existing[: max(0, len(existing) + 1 - _KEPT_KEYS)]:
            old.unlink()
        return kid

    def rotate(self) -> str:
        """Make a new current key, keep the previous one published, drop older ones; returns the new kid.

        The new key is loaded before this returns, so this process signs with it and accepts it at once.
        """
        with self._lock:
            self._refresh(now=True)
            kid = self._write_new_key()
            self._load()
        logger.info("emulator signing key rotated; new kid %s", kid)
        return kid

    @property
    def current_kid(self) -> str:
        self._refresh(now=True)
        return self._keys[-1][0]

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        self._refresh()
        return dict(self._public)

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The published key ``kid``, or ``None``. An unknown kid makes the folder be looked at again at once."""
        self._refresh()
        public = self._public.get(kid)
        if public is None:
            self._refresh(now=True)
            public = self._public.get(kid)
        return public

    def sign(self, claims: dict[str, Any]) -> str:
        """An RS256 JWT of ``claims``, with the current key's ``kid`` in the header."""
        with self._lock:
            self._refresh(now=True)
            kid, key = self._keys[-1]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    def certs(self) -> dict[str, str]:
        """``{kid: x509 PEM}``, the shape of ``https://www.googleapis.com/oauth2/v1/certs``."""
        self._refresh()
        return dict(self._certs)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """JWKS, the shape of ``https://www.googleapis.com/oauth2/v3/certs``."""
        entries = []
        for kid, public in self.public_keys().items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
            jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
            entries.append(jwk)
        return {"keys": entries}


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
