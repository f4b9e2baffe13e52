"""The one X.509 certificate builder of the emulator: its signing keys' certificates (``keys.py``, the shape of
Google's ``oauth2/v1/certs``) and its HTTPS proxy's CA and leaf (``emulator/ca.py``).

Every certificate is valid from five minutes ago (a clock a little behind still accepts it), gets a random
serial and is signed with SHA-256. Self-signed unless an issuer is given.

Example::

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudgate-emulator-1a2b3c4d")])
    certificate = build_certificate(name, key, valid_for=datetime.timedelta(days=14))
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes

#: How far back a certificate's validity starts, for clients whose clock is a little behind.
_BACKDATE = datetime.timedelta(minutes=5)


def build_certificate(
    subject: x509.Name,
    signing_key: CertificateIssuerPrivateKeyTypes,
    *,
    valid_for: datetime.timedelta,
    public_key: CertificatePublicKeyTypes | None = None,
    issuer: x509.Name | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """A certificate for ``subject`` signed by ``signing_key``.

    Self-signed by default (the subject's key is ``signing_key``, the issuer the subject); a leaf gives its own
    ``public_key`` and its CA's ``issuer`` name. ``extensions`` are ``(extension, critical)`` pairs.
    """
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public_key or signing_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + valid_for)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())
