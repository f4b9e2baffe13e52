"""Cursor paging: every row exactly once in a total order, cursors that refuse misuse, the response cap."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tests.app.conftest import SAMPLE_ROWS, AppFactory
from tests.app.test_rows import page_all

pytestmark = pytest.mark.anyio


async def test_paging_the_whole_sample_returns_every_row_exactly_once_in_order(client: httpx.AsyncClient) -> None:
    rows = await page_all(client, "sample", {"columns": "id", "limit": 997})
    assert [r["id"] for r in rows] == list(range(1, SAMPLE_ROWS + 1))


# Duplicate keys and NULLs in both directions: the row id breaks ties, NULLs come last.
_TIES = "k,v\n2,a\n,b\n1,c\n2,d\n,e\n1,f\n3,g\n2,h\n"


@pytest.mark.parametrize(
    ("order", "expected"),
    [("k", "cfadhgbe"), ("-k", "gadhcfbe"), ("k,-v", "fchdageb"), ("-v", "hgfedcba")],
)
@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_paging_with_ties_and_nulls_returns_each_row_once(
    client: httpx.AsyncClient, order: str, expected: str, limit: int
) -> None:
    assert (
        await client.post("/v1/datasets/ties", content=_TIES, headers={"content-type": "text/csv"})
    ).status_code == 201
    rows = await page_all(client, "ties", {"order": order, "limit": limit})
    assert "".join(r["v"] for r in rows) == expected


async def test_a_cursor_from_another_query_is_refused(client: httpx.AsyncClient) -> None:
    first = await client.get("/v1/datasets/sample/rows", params={"limit": 2, "filter": "category:eq:beta"})
    token = first.json()["next"]
    response = await client.get("/v1/datasets/sample/rows", params={"limit": 2, "cursor": token})
    assert response.status_code == 400
    assert "different query" in response.json()["detail"]


async def test_a_cursor_from_before_the_dataset_was_replaced_is_a_409(client: httpx.AsyncClient) -> None:
    await client.post("/v1/datasets/moving", content="n\n1\n2\n3\n", headers={"content-type": "text/csv"})
    token = (await client.get("/v1/datasets/moving/rows", params={"limit": 1})).json()["next"]
    await client.post("/v1/datasets/moving", content="n\n4\n5\n6\n", headers={"content-type": "text/csv"})
    response = await client.get("/v1/datasets/moving/rows", params={"limit": 1, "cursor": token})
    assert response.status_code == 409
    assert "start again" in response.json()["detail"]


def _forge(token: str, **changes: Any) -> str:
    body = token.split(".")[0]
    state = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    state.update(changes)
    return base64.urlsafe_b64encode(json.dumps(state).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("change", [{"r": -1}, {"r": "5"}, {"k": ["x"]}, {"extra": 1}])
async def test_a_cursor_with_a_tampered_structure_is_a_400(client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    token = (await client.get("/v1/datasets/sample/rows", params={"limit": 1})).json()["next"]
    response = await client.get("/v1/datasets/sample/rows", params={"limit": 1, "cursor": _forge(token, **change)})
    assert response.status_code == 400
    assert "invalid cursor" in response.json()["detail"]


async def test_signed_cursors_refuse_an_edited_position(make_app: AppFactory, keys: dict[str, str]) -> None:
    app = make_app(cursor_secret="a-long-random-secret-for-the-test")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-API-Key": keys["reader"]}
        ) as client,
    ):
        token = (await client.get("/v1/datasets/sample/rows", params={"limit": 1})).json()["next"]
        assert "." in token
        ok = await client.get("/v1/datasets/sample/rows", params={"limit": 1, "cursor": token})
        assert ok.status_code == 200
        assert ok.json()["rows"][0]["id"] == 2
        forged = _forge(token, r=500) + "." + token.split(".")[1]
        response = await client.get("/v1/datasets/sample/rows", params={"limit": 1, "cursor": forged})
        assert response.status_code == 400
        assert "signature" in response.json()["detail"]
        non_ascii = token.split(".")[0] + ".é"
        response = await client.get("/v1/datasets/sample/rows", params={"limit": 1, "cursor": non_ascii})
        assert response.status_code == 400


@pytest.fixture
async def capped_client(make_app: AppFactory, keys: dict[str, str]) -> Any:
    app = make_app(service={"max_response_bytes": 20_000})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-API-Key": keys["all"]}
        ) as client,
    ):
        yield client


async def test_a_page_over_the_response_cap_is_refused_with_a_pointer_to_paging_and_export(
    capped_client: httpx.AsyncClient,
) -> None:
    response = await capped_client.get("/v1/datasets/sample/rows", params={"limit": 1000})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "over the 20000-byte limit" in detail
    assert "next" in detail
    assert "/export" in detail
    small = await capped_client.get("/v1/datasets/sample/rows", params={"limit": 50})
    assert small.status_code == 200
    assert len(small.content) <= 20_000


async def test_a_listing_over_the_response_cap_is_refused(capped_client: httpx.AsyncClient) -> None:
    wide = ",".join(f"column_with_a_long_name_{i}" for i in range(150)) + "\n" + ",".join(["1"] * 150) + "\n"
    for number in range(4):  # each upload's own answer fits; the listing of all of them does not
        assert (await capped_client.post(f"/v1/datasets/wide{number}", content=wide)).status_code == 201
    response = await capped_client.get("/v1/datasets")
    assert response.status_code == 422
    assert "limit for non-streamed responses" in response.json()["detail"]


async def test_an_export_is_not_subject_to_the_response_cap(
    capped_client: httpx.AsyncClient, sample_table: pa.Table
) -> None:
    response = await capped_client.get("/v1/datasets/sample/export", params={"format": "ndjson"})
    assert response.status_code == 200
    assert len(response.content) > 20_000
    assert response.content.count(b"\n") == SAMPLE_ROWS
