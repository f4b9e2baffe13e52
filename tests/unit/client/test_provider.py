"""The token provider: one fetch per audience while fresh, single flight under concurrency, refresh near expiry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from cloudgate.client.provider import TokenProvider
from cloudgate.client.tokens import IdToken

from .fake_google import FakeGoogle

AUD = "https://svc-abc-uc.a.run.app"
SA = "invoker@p.iam.gserviceaccount.com"
WriteJson = Callable[[str, dict[str, Any]], Path]


@pytest.fixture
def provider(fake_google: FakeGoogle, write_json: WriteJson) -> TokenProvider:
    return TokenProvider(write_json("key.json", fake_google.key_file(SA)))


def test_a_token_is_reused_while_fresh(provider: TokenProvider, fake_google: FakeGoogle) -> None:
    first = provider.get(AUD)
    for _ in range(20):
        assert provider.get(AUD) is first
    assert fake_google.issued[AUD] == 1 and provider.fetches == 1


def test_each_audience_gets_its_own_token(provider: TokenProvider, fake_google: FakeGoogle) -> None:
    provider.get(AUD)
    provider.get("https://other.example")
    assert fake_google.issued == {AUD: 1, "https://other.example": 1}


def test_a_hundred_threads_cause_one_fetch(provider: TokenProvider, fake_google: FakeGoogle) -> None:
    fake_google.delay = 0.2  # keep the first fetch in flight while the others arrive
    barrier = threading.Barrier(100)
    results: list[IdToken] = []

    def call() -> None:
        barrier.wait()
        results.append(provider.get(AUD))

    threads = [threading.Thread(target=call) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 100 and len({r.value for r in results}) == 1
    assert fake_google.issued[AUD] == 1


@pytest.mark.anyio
async def test_a_hundred_tasks_cause_one_fetch(provider: TokenProvider, fake_google: FakeGoogle) -> None:
    fake_google.delay = 0.2
    results: list[IdToken] = []

    async def call() -> None:
        results.append(await provider.aget(AUD))

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(call)
    assert len(results) == 100 and len({r.value for r in results}) == 1
    assert fake_google.issued[AUD] == 1


def test_a_token_is_refreshed_before_it_expires(fake_google: FakeGoogle, write_json: WriteJson) -> None:
    now = [0.0]
    provider = TokenProvider(write_json("key.json", fake_google.key_file(SA)), clock=lambda: now[0])
    fake_google.lifetime = 4  # refreshed once half its lifetime is left
    first = provider.get(AUD)
    now[0] = first.issued_at + 1.9
    assert provider.get(AUD) is first
    now[0] = first.issued_at + 2.1
    second = provider.get(AUD)
    assert second is not first and fake_google.issued[AUD] == 2


def test_invalidate_forces_a_new_token(provider: TokenProvider, fake_google: FakeGoogle) -> None:
    provider.get(AUD)
    provider.invalidate(AUD)
    provider.get(AUD)
    assert fake_google.issued[AUD] == 2


def test_freshness_uses_the_margin_for_long_tokens_and_half_the_life_for_short_ones() -> None:
    hour = IdToken("t", issued_at=0, expires_at=3600)
    assert hour.is_fresh(now=3299) and not hour.is_fresh(now=3301)
    short = IdToken("t", issued_at=0, expires_at=10)
    assert short.is_fresh(now=4.9) and not short.is_fresh(now=5.1)
