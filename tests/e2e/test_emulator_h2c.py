"""The front end's h2c client (``cloudgate.emulator.serving.h2c``) against a real ``cloudgate serve --http2``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cloudgate.emulator.serving import h2c
from tests.e2e.service_env import Served, serve
from tests.support import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("h2c")
    env = {"CLOUDGATE_KEYSTORE": f"sqlite:///{root / 'keys.sqlite3'}", "CLOUDGATE_IDENTITY": "off"}
    with serve("tests.e2e.slow_app:create_app", env, args=["--http2"]) as running:
        yield running


async def _collect(url: str, method: str, body: AsyncIterator[bytes] | None) -> tuple[int, bytes]:
    answer: dict[str, object] = {}

    async def relay(response: h2c.H2cResponse) -> None:
        answer["status"] = response.status_code
        answer["body"] = b"".join([chunk async for chunk in response.chunks()])

    await h2c.exchange(url, method, [(b"accept", b"application/json")], body, relay)
    status, content = answer["status"], answer["body"]
    assert isinstance(status, int) and isinstance(content, bytes)
    return status, content


async def test_a_get_gets_its_answer(served: Served) -> None:
    assert await _collect(f"{served.url}/slow?seconds=0", "GET", None) == (200, b'{"slept":0.0}')


async def test_an_answer_before_the_body_is_read_is_returned_without_sending_the_rest(served: Served) -> None:
    """A route that takes no body answers (405) at once; 64 MiB would far exceed the flow-control window."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b"x" * (1024 * 1024)

    status, _ = await _collect(f"{served.url}/slow", "POST", body())
    assert status == 405
    assert sent < 64


async def test_nothing_listening_is_an_h2c_error() -> None:
    with pytest.raises(h2c.H2cError):
        await _collect(f"http://127.0.0.1:{free_port()}/", "GET", None)
