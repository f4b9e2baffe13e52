"""The client against ``cloudgate dev`` (the example service behind the emulated front end): identity with an
API key, paging over the whole sample, and a streamed export over 32 MiB in constant memory."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudgate.client import AsyncClient, Client
from cloudgate.errors import RequestError
from cloudgate.google import CLOUD_RUN_MAX_BYTES
from tests.e2e.stack import DevStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e


#: Enough rows that the ndjson export is over Cloud Run's 32 MiB limit for unstreamed responses (~107 B a row).
SAMPLE_ROWS = 400_000


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``cloudgate dev`` with a sample large enough to need streaming."""
    stack = DevStack.start(tmp_path_factory.mktemp("client-dev-stack"), sample_rows=SAMPLE_ROWS)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(autouse=True)
def _off_google_cloud(tmp_path: Path) -> None:
    os.environ["CLOUDSDK_CONFIG"] = str(tmp_path)
    os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"


@pytest.fixture
def client(big_stack: DevStack) -> Client:
    return Client(big_stack.url, credentials=big_stack.invoker_key, api_key=big_stack.api_key)


def _sample_rows(client: Client) -> int:
    return int(client.get("/v1/datasets/sample").json()["rows"])


def test_whoami_names_the_api_key(client: Client) -> None:
    with client:
        body = client.get("/v1/whoami").json()
    assert body["key_name"] and "datasets:read" in body["scopes"]


def test_without_the_api_key_the_service_says_how_to_pass_one(big_stack: DevStack) -> None:
    with Client(big_stack.url, credentials=big_stack.invoker_key) as client, pytest.raises(RequestError) as caught:
        client.get("/v1/datasets/sample/rows")
    assert caught.value.status == 401 and "--api-key" in str(caught.value)


def test_paginate_reads_the_whole_sample_once(client: Client) -> None:
    with client:
        total = _sample_rows(client)
        ids = [
            row["id"] for row in client.paginate("/v1/datasets/sample/rows", params={"limit": 10000, "columns": "id"})
        ]
    assert len(ids) == total and len(set(ids)) == total and min(ids) == 1 and max(ids) == total


@pytest.mark.anyio
async def test_async_paginate_matches_a_filtered_count(big_stack: DevStack) -> None:
    async with AsyncClient(big_stack.url, credentials=big_stack.invoker_key, api_key=big_stack.api_key) as client:
        params = {"limit": 1000, "columns": "id", "filter": "id:le:5500"}
        ids = [row["id"] async for row in client.paginate("/v1/datasets/sample/rows", params=params)]
    assert ids == list(range(1, 5501))


def _export(stack: DevStack, target: Path, *items: str) -> int:
    """Run ``cloudgate call ... -o target``; return the process's own peak RSS in bytes."""
    argv = [
        CLOUDGATE, "call", f"{stack.url}/v1/datasets/sample/export", "format==ndjson", *items, "-o", str(target),
        "--credentials", str(stack.invoker_key),
    ]  # fmt: skip
    env = clean_env(CLOUDGATE_API_KEY=stack.api_key, GCE_METADATA_IP="127.0.0.1:9")
    errors = target.with_suffix(".stderr")
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, errors.read_text()
    return usage.ru_maxrss * 1024


def test_a_streamed_export_over_32_mib_in_constant_memory(big_stack: DevStack, tmp_path: Path) -> None:
    """`cloudgate call -o` writes the whole export; its peak memory is that of a tiny export, give or take 16 MiB."""
    small_rss = _export(big_stack, tmp_path / "small.ndjson", "filter==id:le:100")
    target = tmp_path / "sample.ndjson"
    big_rss = _export(big_stack, target)
    size = target.stat().st_size
    assert size > CLOUD_RUN_MAX_BYTES
    assert big_rss - small_rss < 16 * 1024 * 1024, f"peak RSS {small_rss} -> {big_rss} for a {size}-byte export"
    with target.open() as lines:
        first = json.loads(next(lines))
        count = 1 + sum(1 for _ in lines)
    assert first["id"] == 1 and count == SAMPLE_ROWS


def test_an_expired_api_key_says_to_create_a_new_one(big_stack: DevStack) -> None:
    from datetime import UTC, datetime, timedelta

    from cloudgate.service.keys import open_keystore

    expires = datetime.now(UTC) - timedelta(seconds=1)  # created expired: nothing to wait for
    _, secret = open_keystore(big_stack.session["keystore"]).create("short-lived", ["datasets:read"], expires)
    client = Client(big_stack.url, credentials=big_stack.invoker_key, api_key=secret)
    with client, pytest.raises(RequestError, match="create a new one") as caught:
        client.get("/v1/whoami")
    assert caught.value.status == 401 and "expired" in str(caught.value) and secret not in str(caught.value)
