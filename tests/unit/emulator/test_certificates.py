"""The emulator's one certificate builder: self-signed by default, or a leaf its CA signs."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudgate.emulator.core.certificates import build_certificate


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def test_a_self_signed_certificate_is_issued_by_its_own_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = build_certificate(_name("self"), key, valid_for=datetime.timedelta(days=1))
    certificate.verify_directly_issued_by(certificate)
    assert certificate.issuer == certificate.subject == _name("self")


def test_a_leaf_carries_its_own_key_and_is_signed_by_its_ca() -> None:
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build_certificate(_name("ca"), ca_key, valid_for=datetime.timedelta(days=2))
    names = x509.SubjectAlternativeName([x509.DNSName("a.example")])
    leaf = build_certificate(
        _name("leaf"), ca_key, valid_for=datetime.timedelta(days=1), public_key=leaf_key.public_key(),
        issuer=ca.subject, extensions=[(names, False)],
    )  # fmt: skip
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key() == leaf_key.public_key()
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == names


def test_validity_starts_a_little_before_now_and_lasts_as_asked() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    before = datetime.datetime.now(datetime.UTC)
    certificate = build_certificate(_name("x"), key, valid_for=datetime.timedelta(days=3))
    assert certificate.not_valid_before_utc < before
    lasts = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=3) <= lasts <= datetime.timedelta(days=3, minutes=6)
