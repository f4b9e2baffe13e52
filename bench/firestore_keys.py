"""Latency of an API request whose key is looked up in Firestore vs one whose key is cached, in the same run.

Starts the real Firestore emulator (127.0.0.1, a free port), stores N keys in it, and sends each key once to a
protected app (the lookup: a worker thread and a gRPC round trip to the emulator), then once more (the cache). The
requests go through the whole service stack in-process (``httpx.ASGITransport``), so only the key lookup differs.
Prints p50/p99 of both and their ratio. Usage: ``python bench/firestore_keys.py [N]`` (default 300).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.firestore_emulator import FirestoreEmulator, fresh_collection_url

from cloudgate.service import KeyCaller, ServiceSettings, protect
from cloudgate.service.keys import open_keystore


def build_app(url: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, str | None]:
        return {"key": caller.key_name}

    return protect(app, ServiceSettings(keystore=url, identity="off", key_cache_seconds=3600))


async def timed(client: httpx.AsyncClient, secrets: list[str]) -> list[float]:
    times = []
    for secret in secrets:
        started = time.perf_counter()
        response = await client.get("/v1/whoami", headers={"X-API-Key": secret})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def main(count: int) -> None:
    url = fresh_collection_url()
    store = open_keystore(url)
    secrets = [store.create(f"bench-{i}", [])[1] for i in range(count + 20)]
    store.close()
    app = build_app(url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            await timed(client, secrets[count:])  # warm up: imports, the gRPC channel, the thread pool
            lookup = await timed(client, secrets[:count])
            cached = await timed(client, secrets[:count])
    (l50, l99), (c50, c99) = percentiles(lookup), percentiles(cached)
    print(f"{'request':22} {'p50':>9} {'p99':>9}   ({count} keys, Firestore emulator on 127.0.0.1)")
    print(f"{'key looked up':22} {l50:6.2f} ms {l99:6.2f} ms")
    print(f"{'key cached':22} {c50:6.2f} ms {c99:6.2f} ms")
    print(f"{'lookup / cached':22} {l50 / c50:7.1f}x {l99 / c99:8.1f}x")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        emulator = FirestoreEmulator.start(Path(folder))
        try:
            os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
            asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
        finally:
            emulator.stop()
