"""Exports under attack, against real ``cloudgate serve`` processes: readers that read a few bytes and stop, more
exports than an instance can hold, and exports that fail half-way. Secure: a fixed number of exports per instance
(429 with ``Retry-After`` beyond it), a stalled download ended by the send timeout, and a stream that breaks
visibly (no final chunk) instead of looking complete."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.service_env import Served
from tests.security.conftest import Attack, Secrets

pytestmark = pytest.mark.e2e

#: A 200,000-row sample whose first batch holds nearly all of it (about 22 MB of NDJSON): far more than socket
#: buffers, so a client that does not read leaves the server blocked in the middle of sending it.
_BIG_EXPORTS = {
    "CLOUDGATE_SAMPLE_ROWS": "200000",
    "CLOUDGATE_EXPORT_BATCH_ROWS": "1000000",
    "CLOUDGATE_EXPORT_BATCH_BYTES": str(8 * 1024 * 1024),
}


@pytest.fixture(scope="module")
def capped_service(secrets: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two exports per instance, a send timeout far beyond any test, and almost no time for an export's
    later batches (its start has the ordinary query budget)."""
    with secrets.served_app(
        tmp_path_factory.mktemp("capped"),
        CLOUDGATE_MAX_CONCURRENT_EXPORTS="2",
        CLOUDGATE_EXPORT_SEND_TIMEOUT_SECONDS="600",
        CLOUDGATE_EXPORT_SECONDS="0.000001",
        **_BIG_EXPORTS,
    ) as served:
        yield served


@pytest.fixture(scope="module")
def impatient_service(secrets: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One export per instance, ended when its client accepts nothing for half a second."""
    with secrets.served_app(
        tmp_path_factory.mktemp("impatient"),
        CLOUDGATE_MAX_CONCURRENT_EXPORTS="1",
        CLOUDGATE_EXPORT_SEND_TIMEOUT_SECONDS="0.5",
        **_BIG_EXPORTS,
    ) as served:
        yield served


def stalled_export(service: Served, key: str, query: str = "format=ndjson") -> socket.socket:
    """Start an export, read its status line and a few bytes, then stop reading (the socket stays open)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window from the start
    sock.settimeout(30)
    sock.connect(("127.0.0.1", service.port))
    sock.sendall(f"GET /v1/datasets/sample/export?{query} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1024)
        assert data, "connection closed before the response head"
        head += data
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def _until(condition: object, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` (a callable) to hold, checking every 50 ms, up to a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def test_exports_beyond_the_instance_cap_get_429(capped_service: Served, secrets: Secrets, attack: Attack) -> None:
    """Attack: open more exports than the instance allows and read none of them. Secure: the extra one is a 429
    with Retry-After (nothing starts that would pin more memory), and the slots come back when the readers go."""
    key = secrets.keys["reader"]
    with ExitStack() as stack:
        for _ in range(2):
            stack.callback(stalled_export(capped_service, key).close)
        refused = httpx.get(f"{capped_service.url}/v1/datasets/sample/export", headers={"X-API-Key": key}, timeout=30)
        attack("a third export while two stall", refused, expect=429)
        assert refused.json()["error"] == "too_many_requests"
        assert int(refused.headers["retry-after"]) >= 1

    def served_again() -> bool:
        # (Only the status: on this instance an export's later batches run out of budget; see below.)
        url = f"{capped_service.url}/v1/datasets/sample/export?format=arrow&filter=id:le:10"
        with httpx.stream("GET", url, headers={"X-API-Key": key}, timeout=30) as response:
            return response.status_code == 200

    _until(served_again)


def test_a_stalled_download_is_ended_by_the_send_timeout(impatient_service: Served, secrets: Secrets) -> None:
    """Attack: start the instance's only export and stop reading after a few bytes. Secure: the send timeout ends
    it (the slot is free again while the stalled client is still connected), and what the client can still read
    ends without the final chunk, so it cannot take the download for complete."""
    key = secrets.keys["reader"]
    stalled = stalled_export(impatient_service, key)
    with stalled:
        url = f"{impatient_service.url}/v1/datasets/sample/export?format=arrow&filter=id:le:10"
        _until(lambda: httpx.get(url, headers={"X-API-Key": key}, timeout=30).status_code == 200)
        received = b""
        while data := stalled.recv(1 << 20):
            received += data
    assert not received.endswith(b"0\r\n\r\n")  # no terminating chunk: a broken transfer


def _wide_parquet(rows: int, width: int) -> bytes:
    """Rows so wide that an export needs several batches (a long, repetitive, well-compressed text)."""
    table = pa.table({"id": list(range(rows)), "text": [f"{i:08d}" + "x" * width for i in range(rows)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def test_an_export_failing_midway_ends_broken_not_short(capped_service: Served, secrets: Secrets) -> None:
    """Attack: an export that runs out of its time budget after its first batch went out. Secure: the response ends
    without the final chunk (the client's reader fails), never a clean 200 that is silently short."""
    headers = {"X-API-Key": secrets.keys["all"]}
    with httpx.Client(base_url=capped_service.url, headers=headers, timeout=60) as client:
        upload = client.post(
            "/v1/datasets/wide",
            content=_wide_parquet(400, 50_000),
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
        assert upload.status_code == 201, upload.text
        with client.stream("GET", "/v1/datasets/wide/export", params={"format": "ndjson"}) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in response.iter_bytes():
                    pass
