"""The dataset API under attack: path traversal in names, SQL injection in columns/filters/order, forged cursors,
racing uploads, and request-size abuse, against the shared ``cloudgate serve`` process."""

from __future__ import annotations

import base64
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.conftest import Secrets, Served

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _client(service: Served, secrets: Secrets, role: str = "all") -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"X-API-Key": secrets.keys[role]}, timeout=30)


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../sample",
        "..%2Fsample",
        "%2e%2e",
        ".cache",
        ".tmp",
        "sample.parquet",
        "a" * 65,
        "-x",
        "sample%00",
        "x y",
    ],
)
def test_dataset_names_cannot_escape_the_data_folder(cloud_run_service: Served, secrets: Secrets, name: str) -> None:
    """Attack: dataset names with dot segments, encoded slashes, hidden folders, suffixes, NULs. Secure: 400/404/405
    for reads, uploads and deletes; nothing written or removed outside the catalog's own names."""
    with _client(cloud_run_service, secrets) as client:
        for method in ("GET", "POST", "DELETE"):
            request = client.build_request(method, "/", content=b"a\n1\n" if method == "POST" else None)
            request.url = request.url.copy_with(raw_path=f"/v1/datasets/{name}".encode())
            response = client.send(request)
            assert response.status_code in (400, 404, 405), (method, name, response.status_code)
        assert client.get("/v1/datasets/sample").status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"columns": "id\" FROM read_csv('/etc/passwd') --"},
        {"columns": "id,(SELECT 1)"},
        {"order": "id; DROP TABLE x"},
        {"order": '"id"'},
        {"order": "note"},  # text column: allowed, still quoted
        {"filter": "id:eq:1 OR 1=1"},
        {"filter": "note:eq:' OR '1'='1"},
        {"filter": "note:contains:%' OR 1=1 --"},
        {"filter": "id) OR (1=1:eq:1"},
        {"filter": "id:in:1,2) OR (1=1"},
        {"filter": "ts:ge:2024-01-01'); SELECT * FROM read_text('/etc/passwd'); --"},
        {"filter": "id:eq;1:1"},
        {"filter": "id:like:1"},
    ],
)
def test_query_parameters_never_become_sql(cloud_run_service: Served, secrets: Secrets, params: dict[str, str]) -> None:
    """Attack: SQL in column names, order keys, filter columns, operators and values. Secure: a 400 naming the bad
    part, or a normal answer where the value was treated as data -- never more rows, never a file's contents."""
    with _client(cloud_run_service, secrets) as client:
        response = client.get("/v1/datasets/sample/rows", params={"limit": 5, **params})
    assert response.status_code in (200, 400), response.text
    assert "root:" not in response.text
    if response.status_code == 200:
        body = response.json()
        assert len(body["rows"]) <= 5
        if "filter" in params and ":eq:" in params["filter"]:
            assert body["rows"] == []


def test_in_filter_and_limit_are_bounded(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: an 'in' list of 1001 values and a huge limit (cheap requests, expensive queries). Secure: 400 for the
    list, the limit clamped to the documented maximum."""
    with _client(cloud_run_service, secrets) as client:
        many = client.get("/v1/datasets/sample/rows", params={"filter": "id:in:" + ",".join(["1"] * 1001)})
        assert many.status_code == 400
        huge = client.get("/v1/datasets/sample/rows", params={"limit": 10**12, "columns": "id"})
        assert huge.status_code == 200
        assert huge.json()["limit"] <= 10_000


def _cursor_state(token: str) -> dict[str, object]:
    payload = token.partition(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _encode(state: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).rstrip(b"=").decode()


def test_cursor_from_another_query_is_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: reuse a cursor with other columns or filters (to skip a filter's effect). Secure: 400."""
    with _client(cloud_run_service, secrets) as client:
        first = client.get("/v1/datasets/sample/rows", params={"limit": 2, "filter": "category:eq:alpha"}).json()
        other = client.get("/v1/datasets/sample/rows", params={"limit": 2, "cursor": first["next"]})
        assert other.status_code == 400
        for junk in ("!!!", "e30", _encode({"v": 1, "q": [], "k": {}, "r": "0"}), "A" * 10_000):
            assert client.get("/v1/datasets/sample/rows", params={"cursor": junk}).status_code == 400


def test_edited_cursor_cannot_widen_the_filter(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: edit an (unsigned, by default) cursor's position. Secure: whatever the position, the query's filter
    still applies, so no row outside it comes back."""
    with _client(cloud_run_service, secrets) as client:
        params = {"limit": 2, "filter": "category:eq:alpha", "order": "amount"}
        first = client.get("/v1/datasets/sample/rows", params=params).json()
        state = _cursor_state(first["next"])
        state.update(k=[None], r=0)
        page = client.get("/v1/datasets/sample/rows", params={**params, "cursor": _encode(state)})
    assert page.status_code in (200, 400)
    if page.status_code == 200:
        assert all(row["category"] == "alpha" for row in page.json()["rows"])


def test_forged_cursor_key_of_the_wrong_type_is_a_400(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: a cursor whose order key is not a number for a numeric column (unsigned cursors are the default).
    Secure: 400 'invalid cursor', not a 500."""
    with _client(cloud_run_service, secrets) as client:
        params = {"limit": 2, "order": "amount"}
        state = _cursor_state(client.get("/v1/datasets/sample/rows", params=params).json()["next"])
        state["k"] = ["not-a-number"]
        response = client.get("/v1/datasets/sample/rows", params={**params, "cursor": _encode(state)})
    assert response.status_code == 400


def _csv(value: str, rows: int) -> bytes:
    return ("id,value\n" + "".join(f"{i},{value}\n" for i in range(rows))).encode()


def test_racing_uploads_and_reads_see_whole_versions_only(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: upload two different versions of one dataset concurrently while reading it. Secure: every read sees
    one complete version (all rows of A or all rows of B), never a mix, never a 500."""
    versions = {"a": _csv("a", 300), "b": _csv("b", 700)}
    with _client(cloud_run_service, secrets) as client:
        assert client.post("/v1/datasets/race", content=versions["a"], headers={"Content-Type": "text/csv"}).is_success

        def upload(index: int) -> int:
            body = versions["ab"[index % 2]]
            return client.post("/v1/datasets/race", content=body, headers={"Content-Type": "text/csv"}).status_code

        def read(_: int) -> tuple[int, set[str], int]:
            response = client.get("/v1/datasets/race/rows", params={"limit": 10_000, "columns": "value"})
            rows = response.json()["rows"] if response.status_code == 200 else []
            return response.status_code, {row["value"] for row in rows}, len(rows)

        with ThreadPoolExecutor(8) as pool:
            uploads = [pool.submit(upload, i) for i in range(8)]
            reads = [pool.submit(read, i) for i in range(16)]
            statuses = [f.result() for f in uploads]
            seen = [f.result() for f in reads]
    assert set(statuses) == {201}, statuses
    for status, values, count in seen:
        assert status == 200
        assert (values, count) in [({"a"}, 300), ({"b"}, 700)], (values, count)


def test_cut_off_upload_leaves_the_previous_version(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: start an upload with a large declared length and drop the connection halfway. Secure: the previous
    version stays as it was (no half file installed), and the service keeps answering."""
    with _client(cloud_run_service, secrets) as client:
        old = client.post("/v1/datasets/cutoff", content=_csv("old", 10), headers={"Content-Type": "text/csv"})
        assert old.status_code == 201
        port = cloud_run_service.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                (
                    f"POST /v1/datasets/cutoff HTTP/1.1\r\nHost: x\r\nX-API-Key: {secrets.keys['all']}\r\n"
                    f"Content-Type: text/csv\r\nContent-Length: {4 * MiB}\r\n\r\n"
                ).encode()
                + _csv("new", 1000)
            )
        rows = client.get("/v1/datasets/cutoff/rows", params={"columns": "value"}).json()["rows"]
    assert {row["value"] for row in rows} == {"old"}
    assert len(rows) == 10


def test_declared_oversize_body_is_refused_without_reading(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: declare a body larger than the limit (32 MiB - 1) and send none. Secure: 413 at once."""
    with socket.create_connection(("127.0.0.1", cloud_run_service.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /v1/datasets/huge HTTP/1.1\r\nHost: x\r\nX-API-Key: {secrets.keys['all']}\r\n"
                f"Content-Length: {32 * MiB}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_chunked_oversize_upload_is_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: a chunked upload past 32 MiB (no Content-Length to check). Secure: 413, nothing installed."""

    def body() -> object:
        yield b"id,value\n"
        line = b"1,x\n" * (MiB // 4)
        for _ in range(33):
            yield line

    with _client(cloud_run_service, secrets) as client:
        response = client.post("/v1/datasets/chunked", content=body(), headers={"Content-Type": "text/csv"})
        assert response.status_code == 413
        assert client.get("/v1/datasets/chunked").status_code == 404


def test_slow_body_does_not_block_other_requests(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: an upload whose body trickles in. Secure: other requests are answered meanwhile (async I/O)."""
    with socket.create_connection(("127.0.0.1", cloud_run_service.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /v1/datasets/slow HTTP/1.1\r\nHost: x\r\nX-API-Key: {secrets.keys['all']}\r\n"
                "Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\nid,"
            ).encode()
        )
        with _client(cloud_run_service, secrets) as client:
            response = client.get("/v1/datasets/sample", timeout=5)
    assert response.status_code == 200


def test_huge_request_headers_are_refused(cloud_run_service: Served) -> None:
    """Attack: a 1 MiB header to /health (cheap for the client, memory for the server, times 80 connections).
    Secure: 431 or 400."""
    response = httpx.get(f"{cloud_run_service.url}/health", headers={"X-Big": "a" * MiB}, timeout=30)
    assert response.status_code in (400, 431)
