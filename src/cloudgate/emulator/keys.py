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
import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

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
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _CERT_VALIDITY)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class SigningKeys:
    """The emulator's ID-token signing keys, newest last, persisted in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self._certs: dict[str, str] = {}
        self._stamp: tuple[int, ...] = ()

    def _load(self) -> None:
        """(Re)read the folder if it changed; create the first key if there is none."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = tuple(sorted(p.stat().st_mtime_ns for p in self.folder.glob("*.pem")))
        if self._keys and stamp == self._stamp:
            return
        files = sorted(self.folder.glob("*.pem"), key=lambda p: p.name)
        if not files:
            self._write_new_key()
            files = sorted(self.folder.glob("*.pem"), key=lambda p: p.name)
        keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        for path in files:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path} is not an RSA key")
            keys.append((path.stem.split("-", 1)[1], loaded))
        self._keys = keys
        self._certs = {kid: _self_signed_cert(kid, key) for kid, key in keys}
        self._stamp = tuple(sorted(p.stat().st_mtime_ns for p in self.folder.glob("*.pem")))

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
        """Make a new current key, keep the previous one published, drop older ones; returns the new kid."""
        with self._lock:
            self._load()
            kid = self._write_new_key()
            self._keys = []
            self._load()
        logger.info("emulator signing key rotated; new kid %s", kid)
        return kid

    @property
    def current_kid(self) -> str:
        with self._lock:
            self._load()
            return self._keys[-1][0]

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        with self._lock:
            self._load()
            return {kid: key.public_key() for kid, key in self._keys}

    def sign(self, claims: dict[str, Any]) -> str:
        """An RS256 JWT of ``claims``, with the current key's ``kid`` in the header."""
        with self._lock:
            self._load()
            kid, key = self._keys[-1]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    def certs(self) -> dict[str, str]:
        """``{kid: x509 PEM}``, the shape of ``https://www.googleapis.com/oauth2/v1/certs``."""
        with self._lock:
            self._load()
            return dict(self._certs)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """JWKS, the shape of ``https://www.googleapis.com/oauth2/v3/certs``."""
        entries = []
        for kid, public in self.public_keys().items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
            jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
            entries.append(jwk)
        return {"keys": entries}
