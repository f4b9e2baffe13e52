"""``app.admission.Slots``: work in flight per instance, refused (429) or queued past its limit."""

from __future__ import annotations

import anyio
import pytest
from app.admission import Slots
from app.budget import RetryLaterError

pytestmark = pytest.mark.anyio


async def test_past_the_limit_a_slot_is_refused_with_retry_after() -> None:
    slots = Slots(1, "exports")
    held = await slots.acquire()
    with pytest.raises(RetryLaterError) as refused:
        await slots.acquire()
    assert (refused.value.status, refused.value.retry_after > 0) == (429, True)
    held.release()
    (await slots.acquire()).release()
    assert slots.taken == 0


async def test_a_waiting_request_gets_the_slot_given_back() -> None:
    slots = Slots(1, "uploads", wait_seconds=600)
    held = await slots.acquire()
    got = anyio.Event()

    async def waiter() -> None:
        (await slots.acquire()).release()
        got.set()

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert not got.is_set()
        held.release()
        await got.wait()


async def test_releasing_twice_gives_back_one_slot() -> None:
    slots = Slots(2, "exports")
    slot = await slots.acquire()
    slot.release()
    slot.release()
    assert slots.taken == 0
