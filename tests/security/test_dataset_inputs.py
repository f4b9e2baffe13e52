"""Dataset inputs that used to cost a 5xx or unbounded work, against the shared ``cloudgate serve`` process:
column names that differ only in case or shadow DuckDB's own columns, edited cursor fields, requests that ask for
too much, files that decode to far more than they weigh, and exports of types a format cannot hold."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from tests.security.conftest import Attack, Secrets, Served

pytestmark = pytest.mark.e2e

PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
CSV = {"Content-Type": "text/csv"}


def _client(service: Served, secrets: Secrets) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"X-API-Key": secrets.keys["all"]}, timeout=60)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


@pytest.mark.parametrize(
    "header",
    ["id,FILE_ROW_NUMBER", "id,File_Row_Number", "id,Filename", "id,ROWID", "id,ID", "Amount,amount"],
)
def test_column_names_clashing_as_duckdb_compares_them_are_refused(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, header: str
) -> None:
    """Attack: upload columns named like DuckDB's own row id in another case, or two names DuckDB takes for one.
    Secure: 422 at upload, nothing installed; no upload can leave a dataset whose reads fail."""
    name = "clash" + str(abs(hash(header)) % 10_000)
    with _client(cloud_run_service, secrets) as client:
        response = client.post(f"/v1/datasets/{name}", content=f"{header}\n1,2\n".encode(), headers=CSV)
        attack(f"upload with columns {header}", response, expect=422)
        assert client.get(f"/v1/datasets/{name}/rows").status_code == 404


def test_parquet_columns_differing_only_in_case_are_refused(
    cloud_run_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: a Parquet file with columns ``a`` and ``A`` (distinct to Arrow, one name to DuckDB). Secure: 422."""
    body = _parquet(pa.table({"a": [1], "A": [2]}))
    with _client(cloud_run_service, secrets) as client:
        attack(
            "parquet columns a and A", client.post("/v1/datasets/casepair", content=body, headers=PARQUET), expect=422
        )


def test_column_parameters_match_names_as_duckdb_does(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: name columns in another case, or one column twice in two cases. Secure: ``ID`` finds ``id`` (as in
    DuckDB), and ``id,ID`` is a 400 naming the repetition."""
    with _client(cloud_run_service, secrets) as client:
        page = client.get("/v1/datasets/sample/rows", params={"columns": "ID,Amount", "order": "-AMOUNT", "limit": 2})
        assert page.status_code == 200, page.text
        assert list(page.json()["rows"][0]) == ["id", "amount"]
        twice = client.get("/v1/datasets/sample/rows", params={"columns": "id,ID"})
        assert twice.status_code == 400


def _state(token: str) -> dict[str, object]:
    return dict(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))))


def _token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("order", "edit"),
    [
        ("id", {"r": 2**63}),
        ("id", {"r": 10**30}),
        ("id", {"k": ["99999999999999999999999"]}),
        ("ts", {"k": ["294247-01-10 04:00:54.775807"]}),
        ("ts", {"k": ["2024-99-99"]}),
        ("quantity", {"k": ["1e400"]}),
        ("id", {"k": ["1"] * 2}),
        ("id", {"k": [["1"]]}),
    ],
)
def test_every_edited_cursor_field_is_a_400(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, order: str, edit: dict[str, object]
) -> None:
    """Attack: edit one field of an (unsigned) cursor to a value out of its column's or the row id's range.
    Secure: 400 'invalid cursor', never a 500."""
    with _client(cloud_run_service, secrets) as client:
        params = {"limit": 2, "order": order}
        state = _state(client.get("/v1/datasets/sample/rows", params=params).json()["next"])
        state.update(edit)
        response = client.get(
            "/v1/datasets/sample/rows", params={**params, "cursor": _token(json.dumps(state).encode())}
        )
    attack(f"cursor edited: {edit}", response, expect=400)


def test_a_deeply_nested_cursor_is_a_400(cloud_run_service: Served, secrets: Secrets, attack: Attack) -> None:
    """Attack: a cursor of JSON nested thousands deep (the JSON parser recurses). Secure: 400."""
    with _client(cloud_run_service, secrets) as client:
        response = client.get("/v1/datasets/sample/rows", params={"cursor": _token(b"[" * 5000 + b"]" * 5000)})
    attack("cursor nested 5000 deep", response, expect=400)


@pytest.mark.parametrize(
    "params",
    [
        [("filter", "id:ge:0")] * 21,
        [("filter", "id:in:" + ",".join(str(i) for i in range(600)))] * 2,
        [("columns", ",".join(f"c{i}" for i in range(1001)))],
    ],
    ids=["21-filters", "1200-values-in-two-filters", "1001-columns"],
)
def test_requests_asking_for_too_much_are_refused_before_running(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, params: list[tuple[str, str]]
) -> None:
    """Attack: one small request with many filters, many values across them, or many columns. Secure: 400 saying
    which cap it passed, for pages and exports alike."""
    with _client(cloud_run_service, secrets) as client:
        for path in ("/v1/datasets/sample/rows", "/v1/datasets/sample/export"):
            response = attack(f"over a request cap on {path}", client.get(path, params=params), expect=400)
            assert "at most" in response.json()["detail"]


def test_too_many_order_keys_are_refused(cloud_run_service: Served, secrets: Secrets, attack: Attack) -> None:
    """Attack: order by nine keys (each costs the keyset condition a term per key). Secure: 400."""
    header = ",".join(f"k{i}" for i in range(10))
    body = (header + "\n" + ",".join("1" for _ in range(10)) + "\n").encode()
    with _client(cloud_run_service, secrets) as client:
        assert client.post("/v1/datasets/tenkeys", content=body, headers=CSV).status_code == 201
        order = ",".join(f"k{i}" for i in range(9))
        attack("nine order keys", client.get("/v1/datasets/tenkeys/rows", params={"order": order}), expect=400)


def test_parquet_claiming_millions_of_rows_is_refused(
    cloud_run_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: a Parquet file of a few kilobytes that decodes to six million rows. Secure: 413 from its footer,
    before DuckDB decodes a row."""
    table = pa.table({"x": pa.repeat(pa.scalar(1, pa.int8()), 6_000_000)})
    body = _parquet(table)
    assert len(body) < 1024 * 1024
    with _client(cloud_run_service, secrets) as client:
        attack("parquet of 6M rows", client.post("/v1/datasets/manyrows", content=body, headers=PARQUET), expect=413)
        assert client.get("/v1/datasets/manyrows").status_code == 404


def test_csv_with_tens_of_thousands_of_columns_is_refused(
    cloud_run_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: a 200 KB CSV whose header names 20,000 columns. Secure: 413 from the header row alone."""
    body = (",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join("1" for _ in range(20_000)) + "\n").encode()
    with _client(cloud_run_service, secrets) as client:
        attack("CSV of 20,000 columns", client.post("/v1/datasets/manycols", content=body, headers=CSV), expect=413)


def test_text_that_decodes_far_past_its_size_is_refused(
    cloud_run_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: a small Parquet file of one long text repeated (dictionary-encoded: its footer claims little).
    Secure: 413 once the decoded bytes are measured, nothing installed."""
    one_text = pa.array(["x" * 1_000_000])
    table = pa.table({"t": pa.DictionaryArray.from_arrays(pa.array([0] * 1_200, pa.int32()), one_text)})  # 1.2 GB
    body = _parquet(table)
    assert len(body) < 4 * 1024 * 1024
    with _client(cloud_run_service, secrets) as client:
        attack(
            "parquet decoding to 1.2 GB", client.post("/v1/datasets/bomb", content=body, headers=PARQUET), expect=413
        )
        assert client.get("/v1/datasets/bomb").status_code == 404


def test_csv_export_of_nested_columns_is_complete_text(
    cloud_run_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: a CSV export of list and struct columns (which Arrow's CSV writer cannot write). Secure: a complete
    CSV with the nested values as JSON text, not a 200 that breaks after its head."""
    table = pa.table({"id": [1, 2], "tags": [["a", "b"], []], "point": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]})
    with _client(cloud_run_service, secrets) as client:
        assert client.post("/v1/datasets/nested", content=_parquet(table), headers=PARQUET).status_code == 201
        response = client.get("/v1/datasets/nested/export", params={"format": "csv"})
    attack("CSV export of nested columns", response, expect=200)
    read = pa_csv.read_csv(io.BytesIO(response.content)).to_pylist()
    assert [json.loads(row["tags"]) for row in read] == [["a", "b"], []]
    assert json.loads(read[1]["point"]) == {"x": 3, "y": 4}


def test_export_of_a_type_the_format_cannot_hold_fails_before_the_first_byte(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, tmp_path: Path
) -> None:
    """Attack: a Parquet export of an INTERVAL column (Arrow cannot write it to Parquet). Secure: a 400 naming the
    problem, before any byte of a 200 is sent."""
    target = tmp_path / "spans.parquet"
    duckdb.connect().sql(f"COPY (SELECT 1 AS id, INTERVAL 2 DAY AS span) TO '{target}' (FORMAT parquet)")
    with _client(cloud_run_service, secrets) as client:
        assert client.post("/v1/datasets/spans", content=target.read_bytes(), headers=PARQUET).status_code == 201
        assert client.get("/v1/datasets/spans").json()["columns"][1]["type"] == "INTERVAL"
        response = client.get("/v1/datasets/spans/export", params={"format": "parquet"})
    attack("parquet export of an INTERVAL", response, expect=400)
    assert "interval" in response.json()["detail"].lower()


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet", "arrow"])
def test_every_duckdb_type_exports_completely_or_is_refused_up_front(
    cloud_run_service: Served, secrets: Secrets, attack: Attack, tmp_path: Path, fmt: str
) -> None:
    """Attack: a dataset of every type DuckDB has (its ``test_all_types()``: huge integers, intervals, unions, maps,
    nested lists, bit strings, extreme values...), read as a page and exported in each format. Secure: a complete
    answer or a 4xx before the first byte; never a 5xx, never a stream that breaks."""
    target = tmp_path / "all.parquet"
    duckdb.connect().sql(
        f"COPY (SELECT * EXCLUDE (empty_struct) FROM test_all_types()) TO '{target}' (FORMAT parquet)"  # noqa: S608
    )
    with _client(cloud_run_service, secrets) as client:
        created = client.post(f"/v1/datasets/alltypes-{fmt}", content=target.read_bytes(), headers=PARQUET)
        attack("upload of every DuckDB type", created, expect=201)
        page = client.get(f"/v1/datasets/alltypes-{fmt}/rows")
        attack("page of every DuckDB type", page, expect=200)
        with client.stream("GET", f"/v1/datasets/alltypes-{fmt}/export", params={"format": fmt}) as response:
            body = response.read()  # raises if the stream broke
        attack(f"{fmt} export of every DuckDB type", response, expect=(200, 400))
    if response.status_code == 200 and fmt == "parquet":
        assert pq.read_table(io.BytesIO(body)).num_rows == 3
    if response.status_code == 200 and fmt == "arrow":
        assert pa.ipc.open_stream(body).read_all().num_rows == 3
