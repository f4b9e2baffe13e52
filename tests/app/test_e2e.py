"""The dataset service as Cloud Run runs it: a real ``cloudgate serve`` process with the default million-row sample.

Checks what only a real server shows: exports far over 32 MiB go out chunked with the server's memory bounded,
paging covers the whole sample, and an upload cut off mid-body leaves the previous version in place.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from cloudgate.google import CLOUD_RUN_MAX_BYTES
from cloudgate.service.keys import open_keystore
from tests.support import CLOUDGATE, free_port, start_process, stop_process, wait_for_port

pytestmark = pytest.mark.e2e

ROWS = 1_000_000


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    key: str
    data_dir: Path

    def peak_rss_mib(self) -> float:
        """The server's peak resident memory so far (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc status")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("dataset-server")
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, key = open_keystore(keystore).create("e2e", ["datasets:read", "datasets:write", "datasets:admin"], None)
    port = free_port()
    env = {
        "PORT": str(port),
        "CLOUDGATE_KEYSTORE": keystore,
        "CLOUDGATE_DATA_DIR": str(root / "data"),
        "CLOUDGATE_LOG_LEVEL": "warning",  # nobody reads the pipe while the tests run
    }
    proc = start_process([CLOUDGATE, "serve", "app.main:create_app"], env=env)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        served = Server(f"http://127.0.0.1:{port}", port, proc, key, root / "data")
        # The service loads DuckDB and Arrow and writes the sample on first use (app.warmup); one small export
        # waits for all of it, so the memory tests measure exports, not the start-up.
        with served.client() as client:
            warm = client.get("/v1/datasets/sample/export", params={"format": "arrow", "filter": "id:eq:1"})
            assert warm.status_code == 200, warm.text
        yield served
    finally:
        output = stop_process(proc)
        assert "Traceback" not in output, output


def test_an_ndjson_export_over_32_mib_streams_chunked_with_bounded_server_memory(server: Server) -> None:
    before = server.peak_rss_mib()
    size, expected_id = 0, 1
    with server.client() as client, client.stream("GET", "/v1/datasets/sample/export?format=ndjson") as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        for line in response.iter_lines():
            row = json.loads(line)
            assert row["id"] == expected_id
            expected_id += 1
            size += len(line) + 1
    assert expected_id - 1 == ROWS
    assert size > 3 * CLOUD_RUN_MAX_BYTES
    growth = server.peak_rss_mib() - before
    assert growth < 100, f"the server's peak memory grew {growth:.0f} MiB while streaming {size >> 20} MiB"


def test_an_arrow_export_of_the_whole_sample_is_complete(server: Server) -> None:
    with server.client() as client:
        response = client.get("/v1/datasets/sample/export", params={"format": "arrow"})
    assert response.status_code == 200
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.num_rows == ROWS
    assert table.column("id").to_pylist() == list(range(1, ROWS + 1))


def test_paging_the_million_row_sample_returns_every_row_exactly_once(server: Server) -> None:
    seen = bytearray(ROWS + 1)
    cursor, pages = None, 0
    with server.client() as client:
        while True:
            params = {"columns": "id", "limit": "10000", "order": "-category"}
            response = client.get("/v1/datasets/sample/rows", params={**params, "cursor": cursor} if cursor else params)
            assert response.status_code == 200, response.text
            body = response.json()
            for row in body["rows"]:
                seen[row["id"]] += 1
            pages += 1
            cursor = body["next"]
            if cursor is None:
                break
    assert pages == ROWS // 10_000
    assert seen[1:] == b"\x01" * ROWS


def test_an_upload_cut_off_mid_body_leaves_the_previous_version(server: Server) -> None:
    with server.client() as client:
        assert client.post("/v1/datasets/cut", content="n\n1\n2\n").status_code == 201
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            b"POST /v1/datasets/cut HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n"
            + f"X-API-Key: {server.key}\r\n\r\n".encode()
            + b"n\n"
            + b"7\n" * 1000
        )
    deadline = time.monotonic() + 10
    while [p for p in (server.data_dir / ".tmp").iterdir() if p.name != "duckdb"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.name for p in (server.data_dir / ".tmp").iterdir() if p.name != "duckdb"] == []
    with server.client() as client:
        assert client.get("/v1/datasets/cut/rows").json()["rows"] == [{"n": 1}, {"n": 2}]
