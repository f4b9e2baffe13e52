"""``GET /v1/datasets`` and ``/rows``: listing, column selection, every filter operator, ordering, bad input."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.app.conftest import SAMPLE_ROWS

pytestmark = pytest.mark.anyio


async def page_all(client: httpx.AsyncClient, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow ``next`` from the first page to the last; every row of every page, in order."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            f"/v1/datasets/{name}/rows", params={**params, "cursor": cursor} if cursor else params
        )
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["rows"])
        cursor = body["next"]
        if cursor is None:
            return rows


async def test_listing_shows_the_sample_with_row_count_and_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets")
    assert response.status_code == 200
    (sample,) = response.json()["datasets"]
    assert sample["name"] == "sample"
    assert sample["rows"] == SAMPLE_ROWS
    assert [(c["name"], c["type"]) for c in sample["columns"]] == [
        ("id", "BIGINT"),
        ("ts", "TIMESTAMP"),
        ("category", "VARCHAR"),
        ("quantity", "INTEGER"),
        ("amount", "DOUBLE"),
        ("note", "VARCHAR"),
    ]


async def test_one_dataset_is_described_by_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets/sample")
    assert response.status_code == 200
    assert response.json()["rows"] == SAMPLE_ROWS


async def test_first_page_holds_the_first_rows_with_selected_columns(
    client: httpx.AsyncClient, sample_table: pa.Table
) -> None:
    response = await client.get("/v1/datasets/sample/rows", params={"columns": "note,id", "limit": 5})
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert rows == [{"note": r["note"], "id": r["id"]} for r in sample_table.slice(0, 5).to_pylist()]
    assert list(rows[0]) == ["note", "id"]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


FILTERS = [
    ("category:eq:beta", lambda r: r["category"] == "beta"),
    ("category:ne:beta", lambda r: r["category"] != "beta"),
    ("quantity:lt:10", lambda r: r["quantity"] < 10),
    ("quantity:le:10", lambda r: r["quantity"] <= 10),
    ("amount:gt:9900.5", lambda r: r["amount"] > 9900.5),
    ("ts:ge:2024-01-07 10:00:00", lambda r: r["ts"] >= _ts("2024-01-07 10:00:00")),
    ("category:in:alpha,gamma", lambda r: r["category"] in {"alpha", "gamma"}),
    ("note:contains:item 12", lambda r: "item 12" in r["note"]),
]


@pytest.mark.parametrize(("expression", "predicate"), FILTERS, ids=[f[0].split(":")[1] for f in FILTERS])
async def test_each_filter_operator_returns_exactly_the_matching_rows(
    client: httpx.AsyncClient, sample_table: pa.Table, expression: str, predicate: Any
) -> None:
    expected = [r["id"] for r in sample_table.to_pylist() if predicate(r)]
    assert 0 < len(expected) < SAMPLE_ROWS  # the filter means something here
    rows = await page_all(client, "sample", {"filter": expression, "columns": "id", "limit": 10_000})
    assert [r["id"] for r in rows] == expected


async def test_filters_combine_with_and(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    expected = [r["id"] for r in sample_table.to_pylist() if r["category"] == "delta" and r["quantity"] >= 990]
    rows = await page_all(
        client, "sample", {"filter": ["category:eq:delta", "quantity:ge:990"], "columns": "id", "limit": 50}
    )
    assert [r["id"] for r in rows] == expected


async def test_ordering_descending_pages_in_that_order(client: httpx.AsyncClient, sample_table: pa.Table) -> None:
    table = sample_table.to_pylist()
    expected = [r["id"] for _, r in sorted(enumerate(table), key=lambda ir: (-ir[1]["quantity"], ir[0]))]
    rows = await page_all(client, "sample", {"order": "-quantity", "columns": "id,quantity", "limit": 3_000})
    assert [r["id"] for r in rows] == expected


async def test_limit_above_the_maximum_is_clamped(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets/sample/rows", params={"limit": 50_000, "columns": "id"})
    assert response.status_code == 200
    body = response.json()
    assert body["limit"] == 10_000
    assert len(body["rows"]) == 10_000


async def test_next_cursor_is_also_in_the_link_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets/sample/rows", params={"limit": 2, "filter": "category:eq:beta"})
    link = response.headers["link"]
    assert link.endswith('>; rel="next"')
    follow = await client.get(link[1 : link.index(">")])
    assert follow.status_code == 200
    assert follow.json()["rows"][0]["id"] > response.json()["rows"][-1]["id"]


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"columns": "id,nope"}, 400, "unknown column 'nope'"),
        ({"filter": "nope:eq:1"}, 400, "unknown column 'nope'"),
        ({"order": "-nope"}, 400, "unknown column 'nope'"),
        ({"filter": "quantity:like:1"}, 400, "unknown filter operator 'like'"),
        ({"filter": "quantity"}, 400, "does not read 'column:op:value'"),
        ({"filter": "quantity:gt:many"}, 400, "not a valid INTEGER"),
        ({"filter": "ts:lt:yesterday"}, 400, "not a valid TIMESTAMP"),
        ({"filter": "quantity:contains:1"}, 400, "needs a text column"),
        ({"columns": ","}, 400, "lists no column"),
        ({"order": "id,-id"}, 400, "twice"),
        ({"cursor": "not a cursor!"}, 400, "invalid cursor"),
        ({"cursor": "eyJ2IjoxfQ"}, 400, "invalid cursor"),
    ],
)
async def test_bad_query_parameters_are_a_400_saying_what_was_wrong(
    client: httpx.AsyncClient, params: dict[str, str], status: int, fragment: str
) -> None:
    response = await client.get("/v1/datasets/sample/rows", params=params)
    assert response.status_code == status
    assert response.json()["error"] == "bad_request"
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
async def test_a_limit_that_is_not_a_positive_integer_is_a_422(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/v1/datasets/sample/rows", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/datasets/missing", "/v1/datasets/missing/rows", "/v1/datasets/missing/export"])
async def test_an_unknown_dataset_is_a_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no dataset named 'missing'"}


async def test_a_name_that_cannot_name_a_dataset_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets/..%2Fsecrets/rows")
    assert response.status_code in {400, 404}
    response = await client.get("/v1/datasets/bad.name/rows")
    assert response.status_code == 400
    assert "dataset name" in response.json()["detail"]


async def test_a_csv_dropped_in_the_data_dir_is_served(client: httpx.AsyncClient, app: Any) -> None:
    (app.state.catalog.directory / "dropped.csv").write_text("city,population\nLyon,522250\nNantes,320732\n")
    response = await client.get("/v1/datasets/dropped/rows", params={"filter": "population:gt:400000"})
    assert response.status_code == 200
    assert response.json()["rows"] == [{"city": "Lyon", "population": 522250}]
    (app.state.catalog.directory / "dropped.csv").write_text("city,population\nLille,236710\n")
    response = await client.get("/v1/datasets/dropped/rows")
    assert response.json()["rows"] == [{"city": "Lille", "population": 236710}]


async def test_wide_rows_make_smaller_pages(client: httpx.AsyncClient) -> None:
    """A page's memory is bounded by bytes: rows of 100 KB each come at most 40 to a 4 MiB page."""
    table = pa.table({"id": list(range(100)), "text": ["x" * 100_000] * 100})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    created = await client.post(
        "/v1/datasets/wide", content=sink.getvalue(), headers={"Content-Type": "application/vnd.apache.parquet"}
    )
    assert created.status_code == 201
    page = (await client.get("/v1/datasets/wide/rows", params={"limit": 10_000, "columns": "id"})).json()
    assert page["limit"] == len(page["rows"]) <= 4 * 1024 * 1024 // 100_000
    assert page["next"] is not None
