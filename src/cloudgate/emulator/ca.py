"""The emulator's own certificate authority, so HTTPS clients reach it as ``*.googleapis.com``.

Made once per state folder (``<folder>/ca/ca.pem``, its key ``ca.key`` mode 0600) and never sent anywhere but to
the clients a user points at it (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, gcloud's ``core/custom_ca_certs_file``,
printed by ``cloudgate emulator gcloud-env``). Each emulator run signs a fresh leaf for ``*.googleapis.com`` with
it, kept in memory only. Trusting this CA means trusting whoever can read the state folder: it is for a developer
machine, which the folder's 0700 mode reflects.

Example::

    authority = EmulatorCA.open(Path(".cloudgate/emulator"))
    context = authority.server_context()   # for the TLS proxy (tls_proxy.py)
    print(authority.cert_path)             # what clients trust
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudgate.emulator.core.certificates import build_certificate

#: The names the leaf certificate covers: every Google API host the proxy serves is one label under it, plus
#: ``www.gstatic.com`` (IAP's public keys).
LEAF_NAMES = ("*.googleapis.com", "googleapis.com", "www.gstatic.com")
_CA_DAYS = 3650
_LEAF_DAYS = 30


@dataclass(frozen=True)
class EmulatorCA:
    """The CA of one state folder: its certificate (public) and key (kept beside it, 0600)."""

    cert_path: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def open(cls, state_dir: Path) -> EmulatorCA:
        """The folder's CA, made on first use."""
        folder = state_dir / "ca"
        cert_path, key_path = folder / "ca.pem", folder / "ca.key"
        if not cert_path.exists() or not key_path.exists():
            _make(folder, cert_path, key_path)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not the emulator CA's EC key")
        return cls(cert_path=cert_path, certificate=certificate, key=key)

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting a new leaf for ``*.googleapis.com`` signed by this CA."""
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = build_certificate(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LEAF_NAMES[0])]),
            self.key,
            valid_for=datetime.timedelta(days=_LEAF_DAYS),
            public_key=leaf_key.public_key(),
            issuer=self.certificate.subject,
            extensions=[
                (x509.SubjectAlternativeName([x509.DNSName(name) for name in LEAF_NAMES]), False),
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False),
            ],
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        # ssl loads a chain from files only: write it to a private temporary file and remove it at once.
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(
            serialization.Encoding.PEM
        )
        key_pem = leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, path = tempfile.mkstemp(prefix="cloudgate-leaf-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key_pem + chain)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
        return context


def _make(folder: Path, cert_path: Path, key_path: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudgate emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "cloudgate emulator local CA"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = build_certificate(
        name,
        key,
        valid_for=datetime.timedelta(days=_CA_DAYS),
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (usage, True),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        ],
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
