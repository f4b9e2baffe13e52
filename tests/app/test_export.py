"""``GET /v1/datasets/{name}/export``: each format streams the whole (filtered) result, byte-for-byte readable."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from app.catalog import Catalog
from app.sample import ensure_sample
from app.settings import DataSettings

from tests.app.conftest import SAMPLE_ROWS

pytestmark = pytest.mark.anyio


async def _export(client: httpx.AsyncClient, fmt: str, **params: str) -> httpx.Response:
    response = await client.get("/v1/datasets/sample/export", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    assert "content-length" not in response.headers  # streamed (chunked on a real server)
    return response


async def test_arrow_export_equals_the_dataset(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    response = await _export(client, "arrow")
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert pa.ipc.open_stream(response.content).read_all().equals(sample_table)


async def test_parquet_export_equals_the_dataset(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    response = await _export(client, "parquet")
    assert response.headers["content-disposition"] == 'attachment; filename="sample.parquet"'
    assert pq.read_table(io.BytesIO(response.content)).equals(sample_table)


async def test_csv_export_equals_the_dataset(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    response = await _export(client, "csv")
    assert response.headers["content-type"].startswith("text/csv")
    table = pa_csv.read_csv(io.BytesIO(response.content))
    assert table.num_rows == SAMPLE_ROWS
    assert table.column("id").to_pylist() == sample_table.column("id").to_pylist()
    assert table.column("note").to_pylist() == sample_table.column("note").to_pylist()
    assert table.column("amount").to_pylist() == sample_table.column("amount").to_pylist()


async def test_ndjson_export_is_one_json_object_per_row(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    response = await _export(client, "ndjson")
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.decode().splitlines()
    assert len(lines) == SAMPLE_ROWS
    rows = [json.loads(line) for line in lines]
    expected = sample_table.to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    assert rows[1] == {**expected[1], "ts": expected[1]["ts"].isoformat(sep=" ")}


@pytest.mark.parametrize("fmt", ["arrow", "parquet", "ndjson", "csv"])
async def test_export_applies_columns_filters_and_order(
    client: httpx.AsyncClient, sample_table: pa.Table, fmt: str
) -> None:
    response = await _export(client, fmt, columns="id,amount", filter="category:eq:gamma", order="-amount")
    chosen = sample_table.filter(pc.equal(sample_table["category"], "gamma"))
    expected = sorted(zip(chosen["amount"].to_pylist(), chosen["id"].to_pylist(), strict=True), key=lambda p: -p[0])
    if fmt == "arrow":
        table = pa.ipc.open_stream(response.content).read_all()
    elif fmt == "parquet":
        table = pq.read_table(io.BytesIO(response.content))
    elif fmt == "csv":
        table = pa_csv.read_csv(io.BytesIO(response.content))
    else:
        table = pa.Table.from_pylist([json.loads(line) for line in response.content.splitlines()])
    assert table.column_names == ["id", "amount"]
    assert list(zip(table["amount"].to_pylist(), table["id"].to_pylist(), strict=True)) == expected


async def test_an_export_of_nothing_is_an_empty_but_valid_file(client: httpx.AsyncClient) -> None:
    response = await _export(client, "arrow", filter="quantity:gt:5000")
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.num_rows == 0
    assert "quantity" in table.column_names


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"format": "xlsx"}, "unknown export format 'xlsx'"),
        ({"format": "csv", "columns": "nope"}, "unknown column 'nope'"),
        ({"format": "csv", "filter": "amount:gt:lots"}, "not a valid DOUBLE"),
    ],
)
async def test_a_bad_export_request_is_a_400_before_any_byte_streams(
    client: httpx.AsyncClient, params: dict[str, str], fragment: str
) -> None:
    response = await client.get("/v1/datasets/sample/export", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_the_sample_is_the_same_every_time_it_is_generated(tmp_path: Path) -> None:
    tables = []
    for run in ("a", "b"):
        catalog = Catalog(DataSettings(data_dir=tmp_path / run))
        try:
            assert ensure_sample(catalog, "sample", 5_000)
            assert not ensure_sample(catalog, "sample", 5_000)  # already there: left alone
        finally:
            catalog.close()
        tables.append(pq.read_table(tmp_path / run / "sample.parquet"))
    assert tables[0].equals(tables[1])
    assert tables[0].column("id").to_pylist() == list(range(1, 5_001))
    assert set(tables[0].column("category").to_pylist()) == {"alpha", "beta", "gamma", "delta", "epsilon"}
