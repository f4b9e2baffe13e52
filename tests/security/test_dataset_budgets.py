"""Requests that would hold a core: against a real ``cloudgate serve`` whose per-request DuckDB time budgets are a
microsecond, so any page, export or upload outlives them. Secure: the work is stopped (DuckDB interrupted) and the
answer is a 503 with ``Retry-After`` that says to ask for less, never a request that runs as long as it likes."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.service_env import Served
from tests.security.conftest import Attack, Secrets

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def strict_service(secrets: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with secrets.served_app(
        tmp_path_factory.mktemp("strict"),
        CLOUDGATE_SAMPLE_ROWS="100000",
        CLOUDGATE_QUERY_SECONDS="0.000001",
        CLOUDGATE_UPLOAD_SECONDS="0.000001",
    ) as served:
        yield served


def _read(service: Served, secrets: Secrets, path: str, params: dict[str, str]) -> httpx.Response:
    """A reader's GET, with a timeout far beyond the budget: the service, not the client, must end the work."""
    return httpx.get(f"{service.url}{path}", params=params, headers={"X-API-Key": secrets.keys["reader"]}, timeout=60)


def _refused_for_time(attack: Attack, label: str, response: httpx.Response) -> None:
    attack(label, response, expect=503)
    assert response.json()["error"] == "unavailable"
    assert "budget" in response.json()["detail"]
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "params",
    [
        {"order": "-note,amount", "filter": "note:contains:1"},
        {"filter": "id:in:" + ",".join(str(i) for i in range(1000))},
    ],
    ids=["ordered-text-search", "long-in-list"],
)
def test_a_page_past_its_budget_is_a_503(
    strict_service: Served, secrets: Secrets, attack: Attack, params: dict[str, str]
) -> None:
    """Attack: an expensive page (a sort after a text search, a long 'in' list). Secure: stopped, 503."""
    response = _read(strict_service, secrets, "/v1/datasets/sample/rows", params)
    _refused_for_time(attack, "page past its time budget", response)


def test_an_export_past_its_budget_fails_before_the_first_byte(
    strict_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: an ordered export (the sort runs before the first row can go out). Secure: 503, not a 200 that
    stops short."""
    response = _read(strict_service, secrets, "/v1/datasets/sample/export", {"order": "-amount", "format": "csv"})
    _refused_for_time(attack, "export past its time budget", response)


def test_an_upload_past_its_budget_is_a_503_and_changes_nothing(
    strict_service: Served, secrets: Secrets, attack: Attack
) -> None:
    """Attack: an upload whose conversion takes longer than the budget. Secure: 503, no dataset installed."""
    table = pa.table({"id": list(range(50_000)), "text": [f"row {i}" for i in range(50_000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    with httpx.Client(base_url=strict_service.url, headers={"X-API-Key": secrets.keys["all"]}, timeout=60) as client:
        response = client.post(
            "/v1/datasets/slow", content=sink.getvalue(), headers={"Content-Type": "application/vnd.apache.parquet"}
        )
        _refused_for_time(attack, "upload past its time budget", response)
        assert client.get("/v1/datasets/slow").status_code == 404
