"""A 100 MiB dataset upload through the emulated Cloud Run front end to a service deployed for HTTP/2.

``cloudgate dev --http2`` runs the example service with ``cloudgate serve --http2`` and marks it HTTP/2, so the front
end speaks h2c to it and lets a body over 32 MiB through; the same upload to an HTTP/1 service gets 413.
The body streams: the front end's peak memory does not grow by anything near the body's size.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from cloudgate.google import CLOUD_RUN_MAX_BYTES
from tests.e2e.stack import DevStack

pytestmark = pytest.mark.e2e

_MIB = 1024 * 1024
_ROW = b"1234567,abcdefghijklmnop,3.14159265\n"
_HEADER = b"id,name,value\n"


@dataclass
class Upload:
    response: httpx.Response
    rows: int
    front_end_growth_mib: float
    service_output: str


def _csv(path: Path, size: int) -> int:
    """Write a CSV of at least ``size`` bytes; returns its row count."""
    block = _ROW * (_MIB // len(_ROW))
    rows = 0
    with path.open("wb") as sink:
        sink.write(_HEADER)
        while path.stat().st_size < size:
            sink.write(block)
            sink.flush()
            rows += _MIB // len(_ROW)
    return rows


def _headers(stack: DevStack) -> dict[str, str]:
    creds = service_account.IDTokenCredentials.from_service_account_file(
        str(stack.invoker_key), target_audience=stack.url
    )
    creds.refresh(google.auth.transport.requests.Request())
    return {
        "X-Serverless-Authorization": f"Bearer {creds.token}",
        "X-API-Key": stack.api_key,
        "Content-Type": "text/csv",
    }


def _kib(pid: int, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("upload") / "big.csv"
    return path, _csv(path, 100 * _MIB)


@pytest.fixture(scope="module")
def http2_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``cloudgate dev --http2`` with a 128 MiB upload limit (the service's body limit is 512 MiB over HTTP/2)."""
    stack = DevStack.start(
        tmp_path_factory.mktemp("dev-http2"),
        sample_rows=0,
        args=["--http2"],
        env={"CLOUDGATE_MAX_UPLOAD_BYTES": str(128 * _MIB)},
    )
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def upload(http2_stack: DevStack, big_csv: tuple[Path, int]) -> Upload:
    """One 100 MiB upload through the HTTP/2 stack, with the front end's peak memory around it."""
    path, rows = big_csv
    stack = http2_stack
    assert stack.proc is not None
    headers = _headers(stack)
    # A first request over h2c, so the client's imports and connection are in place before measuring.
    assert httpx.get(f"{stack.url}/v1/whoami", headers=headers).status_code == 200
    # The front end runs in the `cloudgate dev` process: reset its peak-memory mark, then read it afterwards.
    Path(f"/proc/{stack.proc.pid}/clear_refs").write_text("5")
    before = _kib(stack.proc.pid, "VmRSS")
    with path.open("rb") as body:
        response = httpx.post(f"{stack.url}/v1/datasets/big", content=body, headers=headers, timeout=240)
    growth = (_kib(stack.proc.pid, "VmHWM") - before) / 1024
    return Upload(response, rows, growth, _service_lines(stack))


def _service_lines(stack: DevStack) -> str:
    """The service's output so far, once its access line for the upload is there."""
    assert stack.drain is not None
    deadline = time.monotonic() + 20
    while "POST /v1/datasets/big" not in stack.drain.output and time.monotonic() < deadline:
        time.sleep(0.05)
    return stack.drain.output


def test_a_100_mib_upload_to_an_http2_service_succeeds(upload: Upload, big_csv: tuple[Path, int]) -> None:
    path, _ = big_csv
    assert path.stat().st_size > 3 * CLOUD_RUN_MAX_BYTES
    assert upload.response.status_code == 201, upload.response.text
    assert upload.response.json()["rows"] == upload.rows


def test_the_front_end_speaks_h2c_to_the_service(upload: Upload) -> None:
    access = [line for line in upload.service_output.splitlines() if "POST /v1/datasets/big" in line]
    assert access and '"protocol": "HTTP/2"' in access[0]


def test_the_front_end_streams_the_body_in_constant_memory(upload: Upload) -> None:
    # Buffering the body would add 100 MiB; streaming it costs the chunks in flight.
    assert upload.front_end_growth_mib < 32, f"the front end grew by {upload.front_end_growth_mib:.0f} MiB"


def test_the_same_upload_to_an_http1_service_gets_413(dev_stack: DevStack, big_csv: tuple[Path, int]) -> None:
    path, _ = big_csv
    with path.open("rb") as body:
        response = httpx.post(f"{dev_stack.url}/v1/datasets/big", content=body, headers=_headers(dev_stack))
    assert response.status_code == 413


def test_an_upload_past_the_services_own_limit_gets_its_413(http2_stack: DevStack) -> None:
    """The service answers 413 before it has read the whole body; the front end relays it (no stall, no 503)."""

    def body() -> Iterator[bytes]:
        chunk = _HEADER + _ROW * (_MIB // len(_ROW))
        for _ in range(136):  # past the 128 MiB upload limit
            yield chunk

    response = httpx.post(
        f"{http2_stack.url}/v1/datasets/toobig", content=body(), headers=_headers(http2_stack), timeout=120
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]
