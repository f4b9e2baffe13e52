"""Signing keys while the certs endpoint is down and a token names a key id the kept set does not hold."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudgate.errors import InvalidCredentialsError, UnavailableError
from cloudgate.service.certs import PublicKeys
from tests.keys import x509_pem
from tests.unit.service.test_certs import CertsServer, FakeClock, same_key


@pytest.fixture(scope="module")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.mark.anyio
async def test_a_new_kid_during_an_outage_is_a_503_not_a_401(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """Google starts signing with key ``b`` while its certs cannot be fetched: a caller with a ``b`` token is told
    to retry (503 with Retry-After until the next try), not that its token is bad; once the endpoint answers,
    ``b`` works, and a kid the fresh set does not hold is a 401 again."""
    server = CertsServer({"a": x509_pem(rsa_keys[0])})
    clock = FakeClock()
    keys = server.keys(clock, cooldown=30)
    await keys.get("a")
    server.fail_with = lambda: httpx.Response(503)
    clock.now += 31
    with pytest.raises(UnavailableError) as refetch_failed:
        await keys.get("b")
    assert refetch_failed.value.retry_after == 30
    clock.now += 10
    with pytest.raises(UnavailableError) as within_cooldown:
        await keys.get("b")
    assert within_cooldown.value.retry_after == 20
    assert same_key(await keys.get("a"), rsa_keys[0])  # the kept set still serves the kids it holds
    server.fail_with = None
    server.document = {"a": x509_pem(rsa_keys[0]), "b": x509_pem(rsa_keys[1])}
    clock.now += 20
    assert same_key(await keys.get("b"), rsa_keys[1])
    clock.now += 31
    with pytest.raises(InvalidCredentialsError, match="unknown key id"):
        await keys.get("made-up")


@pytest.mark.anyio
async def test_a_fetch_that_hangs_until_its_timeout_is_not_retried_at_once(rsa_keys: list[rsa.RSAPrivateKey]) -> None:
    """The certs endpoint accepts and never answers: the fetch fails at its timeout (5 s here), and the pause
    before the next try counts from that failure, so the requests that follow get 503 at once instead of each
    waiting out another timeout."""
    clock = FakeClock()
    fetches = 0

    async def stalled(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        clock.now += 5  # the whole timeout passes while the fetch waits
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(stalled))
    keys = PublicKeys("http://certs.test/oauth2/v1/certs", http=lambda: client, refetch_cooldown=30, clock=clock)
    with pytest.raises(UnavailableError):
        await keys.get("a")
    clock.now += 4
    with pytest.raises(UnavailableError) as info:
        await keys.get("a")
    assert fetches == 1
    assert info.value.retry_after == 1
