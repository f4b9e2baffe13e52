"""``POST`` and ``DELETE /v1/datasets/{name}``: validated, atomic uploads; failed ones leave the old version."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import anyio
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.app.conftest import AppFactory

pytestmark = pytest.mark.anyio

CSV = {"content-type": "text/csv"}


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


async def _rows(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/datasets/{name}/rows", params={"limit": 10_000})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def _leftovers(data_dir: Path) -> list[str]:
    return [p.name for p in (data_dir / ".tmp").iterdir() if p.name != "duckdb"]


async def test_a_csv_upload_becomes_a_typed_dataset(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets/cities", content="city,pop,seen\nLyon,522250,2024-03-01\n", headers=CSV)
    assert response.status_code == 201
    body = response.json()
    assert body["rows"] == 1
    assert [(c["name"], c["type"]) for c in body["columns"]] == [
        ("city", "VARCHAR"),
        ("pop", "BIGINT"),
        ("seen", "DATE"),
    ]
    assert await _rows(client, "cities") == [{"city": "Lyon", "pop": 522250, "seen": "2024-03-01"}]


async def test_a_parquet_upload_is_recognised_by_its_bytes(client: httpx.AsyncClient) -> None:
    table = pa.table({"x": [1, 2, 3], "label": ["a", None, "c"]})
    response = await client.post("/v1/datasets/numbers", content=_parquet(table))
    assert response.status_code == 201
    assert await _rows(client, "numbers") == table.to_pylist()


async def test_an_upload_replaces_the_previous_version(client: httpx.AsyncClient) -> None:
    await client.post("/v1/datasets/v", content="n\n1\n", headers=CSV)
    await client.post("/v1/datasets/v", content=_parquet(pa.table({"m": [7, 8]})))
    assert await _rows(client, "v") == [{"m": 7}, {"m": 8}]


BAD_UPLOADS = [
    ("a,b\n1,2\n3\n4,5,6\n", CSV, 422, "not a valid CSV file"),
    ('a,b\n1,"open quote\n', CSV, 422, "not a valid CSV file"),
    (b"PAR1 but truncated", {}, 422, "not a valid PARQUET file"),
    ("", CSV, 422, "the upload is empty"),
    ("a:b,c\n1,2\n", CSV, 422, "column name 'a:b' is not allowed"),
    ("a,b\n1,2\n", {"content-type": "multipart/form-data; boundary=x"}, 415, "not a multipart form"),
]


@pytest.mark.parametrize(("content", "headers", "status", "fragment"), BAD_UPLOADS)
async def test_a_bad_upload_is_refused_and_the_previous_version_stays(
    client: httpx.AsyncClient, data_dir: Path, content: Any, headers: dict[str, str], status: int, fragment: str
) -> None:
    await client.post("/v1/datasets/kept", content="n\n1\n2\n", headers=CSV)
    response = await client.post("/v1/datasets/kept", content=content, headers=headers)
    assert response.status_code == status
    assert fragment in response.json()["detail"]
    assert str(data_dir) not in response.json()["detail"]  # no server path in the message
    assert await _rows(client, "kept") == [{"n": 1}, {"n": 2}]
    assert _leftovers(data_dir) == []


async def test_an_unknown_format_parameter_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets/x", params={"format": "xlsx"}, content="a\n1\n")
    assert response.status_code == 400
    assert "unknown upload format" in response.json()["detail"]


async def test_an_upload_over_the_size_limit_is_a_413_and_changes_nothing(
    make_app: AppFactory, keys: dict[str, str], data_dir: Path
) -> None:
    app = make_app(max_upload_bytes=1_000, sample_rows=0)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-API-Key": keys["all"]}
        ) as client,
    ):
        assert (await client.post("/v1/datasets/big", content="n\n1\n", headers=CSV)).status_code == 201

        async def body() -> Any:  # chunked, so only the streaming count can stop it
            yield b"n\n"
            for _ in range(100):
                yield b"123456789\n" * 10

        response = await client.post("/v1/datasets/big", content=body(), headers=CSV)
        assert response.status_code == 413
        assert "larger than 1000 bytes" in response.json()["detail"]
        assert await _rows(client, "big") == [{"n": 1}]
        assert _leftovers(data_dir) == []


async def test_concurrent_uploads_and_reads_never_see_a_partial_dataset(client: httpx.AsyncClient) -> None:
    """Each version holds `1000 + i` rows all tagged `i`; a reader must always see one whole version."""
    versions = {i: "tag,n\n" + "".join(f"{i},{n}\n" for n in range(1000 + i)) for i in range(16)}
    await client.post("/v1/datasets/busy", content=versions[0], headers=CSV)
    seen: list[tuple[int, ...]] = []

    async def upload(i: int) -> None:
        response = await client.post("/v1/datasets/busy", content=versions[i], headers=CSV)
        assert response.status_code == 201

    async def read() -> None:
        for _ in range(20):
            response = await client.get("/v1/datasets/busy/export", params={"format": "arrow"})
            assert response.status_code == 200, response.text
            table = pa.ipc.open_stream(response.content).read_all()
            seen.append((*sorted(set(table["tag"].to_pylist())), table.num_rows))

    async with anyio.create_task_group() as group:
        for i in range(1, 16):
            group.start_soon(upload, i)
        for _ in range(4):
            group.start_soon(read)
    for tag, rows in seen:
        assert rows == 1000 + tag
    final = (await client.get("/v1/datasets/busy")).json()
    assert final["rows"] in {1000 + i for i in range(1, 16)}


async def test_delete_removes_the_dataset(client: httpx.AsyncClient) -> None:
    await client.post("/v1/datasets/gone", content="n\n1\n", headers=CSV)
    assert (await client.delete("/v1/datasets/gone")).status_code == 204
    assert (await client.get("/v1/datasets/gone/rows")).status_code == 404
    assert "gone" not in [d["name"] for d in (await client.get("/v1/datasets")).json()["datasets"]]
    response = await client.delete("/v1/datasets/gone")
    assert response.status_code == 404


async def test_a_name_that_cannot_name_a_dataset_cannot_be_uploaded(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets/.hidden", content="n\n1\n", headers=CSV)
    assert response.status_code == 400
    assert "dataset name" in response.json()["detail"]


async def test_a_data_folder_file_with_a_reserved_column_is_a_422_not_a_500(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    """A file put in the data folder by hand (not uploaded) whose column clashes with DuckDB's row id."""
    pq.write_table(pa.table({"id": [1], "File_Row_Number": [2]}), data_dir / "handmade.parquet")
    assert (await client.get("/v1/datasets/handmade")).status_code == 422
    assert (await client.get("/v1/datasets/handmade/rows")).status_code == 422
    listing = (await client.get("/v1/datasets")).json()["datasets"]
    assert "handmade" not in [d["name"] for d in listing]
