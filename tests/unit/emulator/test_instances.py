"""Scaling a service's instances: slots, starts under load, idle stops, failures; real echo processes as instances."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.serving.instances import InstancePool, InstanceStartError, NoInstanceError, Timings
from cloudgate.emulator.serving.runner import ProcessRunner
from cloudgate.knative import Scaling

ECHO = [sys.executable, "-m", "cloudgate.emulator.serving.echo"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def echo_runner(name: str, folder: Path) -> ProcessRunner:
    return ProcessRunner(ECHO, env={"TMPDIR": str(folder)})


@pytest.fixture
async def make_pool(tmp_path: Path) -> AsyncIterator[object]:
    pools: list[InstancePool] = []

    def make(
        scaling: Scaling, runner: object = echo_runner, clock: Clock | None = None, timings: Timings = Timings()
    ) -> InstancePool:
        extra = {"clock": clock} if clock else {}
        pool = InstancePool("svc", runner, tmp_path, Counters(), scaling, timings, **extra)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.stop()


@pytest.mark.anyio
async def test_min_instances_start_up_front_and_answer(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(Scaling(2, 2))
    await pool.start()
    assert [i["state"] for i in pool.snapshot()] == ["ready", "ready"]
    async with pool.acquire() as upstream, httpx.AsyncClient() as client:
        assert (await client.get(upstream + "/health")).text == "ok"


@pytest.mark.anyio
async def test_consecutive_requests_spread_over_the_instances(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(Scaling(3, 3))
    await pool.start()
    for _ in range(6):
        async with pool.acquire():
            pass
    assert sorted(i["served"] for i in pool.snapshot()) == [2, 2, 2]
    assert sorted(pool.counters.snapshot()["instance_requests"].values()) == [2, 2, 2]


@pytest.mark.anyio
async def test_when_every_slot_is_taken_another_instance_starts_up_to_max(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(Scaling(1, 3, 2), timings=Timings(pending_seconds=0.5))
    await pool.start()
    async with AsyncExitStack() as held:
        urls = [await held.enter_async_context(pool.acquire()) for _ in range(6)]
        assert len(pool.instances) == 3
        assert sorted(urls.count(url) for url in set(urls)) == [2, 2, 2]  # concurrency 2 each
        with pytest.raises(NoInstanceError, match="no instance of svc had a free slot"):
            async with pool.acquire():
                pass
    assert pool.counters.get("instance_starts", "svc") == 3


@pytest.mark.anyio
async def test_idle_instances_above_min_stop_and_min_stays(make_pool) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    pool = make_pool(Scaling(1, 3, 1), clock=clock, timings=Timings(idle_seconds=30))
    await pool.start()
    async with AsyncExitStack() as held:
        for _ in range(3):
            await held.enter_async_context(pool.acquire())
        clock.now += 60
        assert await pool.reap_idle() == []  # busy instances are never stopped
    runners = [i.runner for i in pool.instances]
    clock.now += 29
    assert await pool.reap_idle() == []
    clock.now += 1
    stopped = await pool.reap_idle()
    assert len(stopped) == 2 and len(pool.instances) == 1
    assert sum(r.returncode is not None for r in runners) == 2
    assert pool.counters.get("instance_stops", "svc") == 2


@pytest.mark.anyio
async def test_with_min_zero_the_first_request_starts_an_instance(make_pool) -> None:  # type: ignore[no-untyped-def]
    pool = make_pool(Scaling(0, 1))
    await pool.start()
    assert pool.instances == []
    async with pool.acquire() as upstream, httpx.AsyncClient() as client:
        assert (await client.get(upstream + "/health")).status_code == 200


@pytest.mark.anyio
async def test_an_instance_that_cannot_start_fails_the_request_that_needed_it(make_pool) -> None:  # type: ignore[no-untyped-def]
    def broken(name: str, folder: Path) -> ProcessRunner:
        return ProcessRunner([sys.executable, "-c", "raise SystemExit(3)"])

    pool = make_pool(Scaling(0, 2), runner=broken)
    with pytest.raises(InstanceStartError, match="exited with status 3"):
        async with pool.acquire():
            pass
    assert pool.instances == []


@pytest.mark.anyio
async def test_a_minimum_that_cannot_start_fails_start_with_the_cause(make_pool) -> None:  # type: ignore[no-untyped-def]
    def broken(name: str, folder: Path) -> ProcessRunner:
        return ProcessRunner([sys.executable, "-c", "raise SystemExit(4)"])

    pool = make_pool(Scaling(2, 2), runner=broken)
    with pytest.raises(InstanceStartError, match="exited with status 4") as caught:
        await pool.start()
    assert caught.value.port > 0 and pool.instances == []
