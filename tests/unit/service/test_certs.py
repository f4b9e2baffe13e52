"""Signing keys: the three certs formats, Cache-Control, single flight, unknown-kid cooldown, fetch failures."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from cloudgate.errors import InvalidCredentialsError, UnavailableError
from cloudgate.service.certs import (
    DEFAULT_MAX_AGE_S,
    PublicKeys,
    PublicKeysUnavailableError,
    cache_seconds,
    parse_key_set,
)
from tests.certs_endpoint import CertsEndpoint
from tests.keys import public_pem, x509_pem

CERTS_URL = "http://certs.test/oauth2/v1/certs"


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    """Two RSA keys, generated once for this module (never committed)."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256", "use": "sig"}


def same_key(found: rsa.RSAPublicKey, expected: rsa.RSAPrivateKey) -> bool:
    return found.public_numbers() == expected.public_key().public_numbers()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CertsServer(CertsEndpoint):
    """The shared certs endpoint, and the ``PublicKeys`` that fetch from it on ``clock``."""

    def keys(self, clock: FakeClock, cooldown: float = 30.0) -> PublicKeys:
        client = self.client()
        return PublicKeys(CERTS_URL, http=lambda: client, refetch_cooldown=cooldown, clock=clock)


def test_parse_accepts_x509_certificates(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """Google's oauth2/v1/certs format: {kid: x509 PEM}."""
    keys = parse_key_set({"a": x509_pem(rsa_keys[0]), "b": x509_pem(rsa_keys[1])})
    assert set(keys) == {"a", "b"}
    assert same_key(keys["a"], rsa_keys[0]) and same_key(keys["b"], rsa_keys[1])


def test_parse_accepts_public_key_pems(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """{kid: public key PEM}."""
    keys = parse_key_set({"a": public_pem(rsa_keys[0])})
    assert same_key(keys["a"], rsa_keys[0])


def test_parse_accepts_jwks_and_skips_non_rsa_keys(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """JWKS (oauth2/v3/certs): RSA signing keys are kept, an EC key and an encryption key are skipped."""
    ec_jwk = {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}
    enc = {**jwk(rsa_keys[1], "enc"), "use": "enc"}
    keys = parse_key_set({"keys": [jwk(rsa_keys[0], "a"), ec_jwk, enc]})
    assert set(keys) == {"a"}
    assert same_key(keys["a"], rsa_keys[0])


def test_parse_skips_a_broken_entry_but_keeps_the_good_ones(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    keys = parse_key_set({"bad": "-----BEGIN CERTIFICATE-----\nnot base64\n", "good": x509_pem(rsa_keys[0])})
    assert set(keys) == {"good"}


def test_parse_skips_an_ec_public_key() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(PublicKeysUnavailableError, match="no usable RSA key"):
        parse_key_set({"ec": ec_pem})


@pytest.mark.parametrize("document", [{}, [], "text", {"keys": []}, {"a": 1}])
def test_parse_refuses_documents_without_usable_keys(document: object) -> None:
    with pytest.raises(PublicKeysUnavailableError):
        parse_key_set(document)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=20868, must-revalidate, no-transform", 20868.0),  # what Google sends
        ("max-age=60", 60.0),
        (None, DEFAULT_MAX_AGE_S),
        ("public", DEFAULT_MAX_AGE_S),
        ("no-store", 0.0),
        ("no-cache, max-age=60", 0.0),
        ("max-age=99999999", 86_400.0),
        ("s-maxage=60", DEFAULT_MAX_AGE_S),
    ],
)
def test_cache_seconds_follows_cache_control(header: str | None, seconds: float) -> None:
    assert cache_seconds(header) == seconds


@pytest.mark.anyio
async def test_key_set_is_kept_for_max_age_then_refetched(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    server = CertsServer({"a": x509_pem(rsa_keys[0])}, cache_control="public, max-age=60")
    clock = FakeClock()
    keys = server.keys(clock)
    assert same_key(await keys.get("a"), rsa_keys[0])
    clock.now += 59
    await keys.get("a")
    assert server.requests == 1
    clock.now += 2
    await keys.get("a")
    assert server.requests == 2


@pytest.mark.anyio
async def test_key_set_without_cache_control_is_kept_five_minutes(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    server = CertsServer({"a": x509_pem(rsa_keys[0])}, cache_control=None)
    clock = FakeClock()
    keys = server.keys(clock)
    await keys.get("a")
    clock.now += DEFAULT_MAX_AGE_S - 1
    await keys.get("a")
    assert server.requests == 1
    clock.now += 2
    await keys.get("a")
    assert server.requests == 2


@pytest.mark.anyio
async def test_unknown_kid_refetches_once_then_waits_for_the_cooldown(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """A key id missing from a fresh set triggers one refetch per cooldown, however many requests carry it."""
    server = CertsServer({"a": x509_pem(rsa_keys[0])})
    clock = FakeClock()
    keys = server.keys(clock, cooldown=30)
    await keys.get("a")
    clock.now += 31
    for _ in range(5):
        with pytest.raises(InvalidCredentialsError, match="unknown key id"):
            await keys.get("rotated")
    assert server.requests == 2
    server.document = {"a": x509_pem(rsa_keys[0]), "rotated": x509_pem(rsa_keys[1])}
    clock.now += 29
    with pytest.raises(InvalidCredentialsError, match="unknown key id"):
        await keys.get("rotated")
    assert server.requests == 2
    clock.now += 2
    assert same_key(await keys.get("rotated"), rsa_keys[1])
    assert server.requests == 3


@pytest.mark.anyio
async def test_concurrent_requests_share_one_fetch(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    server = CertsServer({"a": x509_pem(rsa_keys[0]), "b": x509_pem(rsa_keys[1])})
    server.hold()
    keys = server.keys(FakeClock())
    callers = [asyncio.ensure_future(keys.get("ab"[i % 2])) for i in range(50)]
    await server.fetching.wait()  # the fetch runs after every caller has asked (tasks run in the order made)
    server.release()
    found = await asyncio.gather(*callers)
    assert server.requests == 1
    assert all(same_key(key, rsa_keys[i % 2]) for i, key in enumerate(found))


@pytest.mark.anyio
async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    server = CertsServer({"a": x509_pem(rsa_keys[0])})
    server.hold()
    keys = server.keys(FakeClock())
    first = asyncio.ensure_future(keys.get("a"))
    await server.fetching.wait()  # the first caller's fetch is under way
    second = asyncio.ensure_future(keys.get("a"))
    await asyncio.sleep(0)  # the second caller joins it
    first.cancel()
    server.release()
    assert same_key(await second, rsa_keys[0])
    assert server.requests == 1


def _refusals() -> list[Callable[[], httpx.Response]]:
    def connect_error() -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    return [
        lambda: httpx.Response(500, text="oops"),
        lambda: httpx.Response(200, text="<html>not json</html>"),
        lambda: httpx.Response(200, json={"a": 1}),
        connect_error,
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("failure", _refusals(), ids=["http-500", "not-json", "no-keys", "connect-error"])
async def test_fetch_failure_is_a_503_logged_then_retried_after_a_pause(
    rsa_keys: list[rsa.RSAPrivateKey], failure: Callable[[], httpx.Response], caplog: pytest.LogCaptureFixture
) -> None:
    """Not the caller's fault (503, not 401); an outage costs one fetch per pause, not one per request."""
    server = CertsServer({"a": x509_pem(rsa_keys[0])})
    server.fail_with = failure
    clock = FakeClock()
    keys = server.keys(clock, cooldown=30)
    with (
        caplog.at_level(logging.ERROR, logger="cloudgate.service.certs"),
        pytest.raises(UnavailableError, match="could not be fetched") as info,
    ):
        await keys.get("a")
    assert info.value.status == 503 and info.value.retry_after == 5
    assert any(CERTS_URL in record.getMessage() for record in caplog.records)
    server.fail_with = None
    for _ in range(10):
        with pytest.raises(UnavailableError):
            await keys.get("a")
    assert server.requests == 1
    clock.now += 5
    assert same_key(await keys.get("a"), rsa_keys[0])  # the next try after the pause succeeds


@pytest.mark.anyio
async def test_failed_refresh_keeps_the_previous_keys_until_the_cooldown(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    server = CertsServer({"a": x509_pem(rsa_keys[0])}, cache_control="max-age=60")
    clock = FakeClock()
    keys = server.keys(clock, cooldown=30)
    await keys.get("a")
    server.fail_with = lambda: httpx.Response(503)
    clock.now += 61
    assert same_key(await keys.get("a"), rsa_keys[0])
    clock.now += 29
    assert same_key(await keys.get("a"), rsa_keys[0])
    assert server.requests == 2
    server.fail_with = None
    server.document = {"b": x509_pem(rsa_keys[1])}
    clock.now += 2
    assert same_key(await keys.get("b"), rsa_keys[1])
    assert server.requests == 3


@pytest.mark.anyio
async def test_failure_to_fetch_never_logs_the_document(
    rsa_keys: list[rsa.RSAPrivateKey], caplog: pytest.LogCaptureFixture
) -> None:
    """A body that is not a key set is reported by shape, not echoed into the logs."""
    body = json.dumps({"secretish": "do-not-echo"})
    server = CertsServer({})
    server.fail_with = lambda: httpx.Response(200, text=body)
    keys = server.keys(FakeClock())
    with caplog.at_level(logging.DEBUG), pytest.raises(UnavailableError):
        await keys.get("a")
    assert "do-not-echo" not in caplog.text
