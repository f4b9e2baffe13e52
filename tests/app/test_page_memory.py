"""Page queries run without DuckDB's late materialization, which leaked memory on every page.

Found by the sustained load test (``tests/load/test_sustained_load.py``, full pass): the example service's RSS grew
by about 13% over 24,000 requests and did not come back. The cause, isolated with DuckDB alone: a top-N over
``read_parquet(..., file_row_number = true)`` (every page query: the row number breaks ties in the order) is
rewritten by the late-materialization optimizer into a semi join on the row numbers, and that plan keeps a few KB
per query that are never given back (DuckDB 2.0.1: about 20 MiB per 10,000 pages). ``duckdb_config`` turns the
optimizer off; the same pages then leave RSS flat, and they were not measurably slower on the million-row sample.

Checked on the plan, not on RSS: a memory figure over a few thousand queries would take CI tens of seconds on a busy
machine and be noisy. The load test's full pass (``make load``) measures the RSS itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from app.catalog import Catalog
from app.paging import fetch_page
from app.query import parse_query
from app.sample import ensure_sample
from app.settings import DataSettings


class _Recorder:
    """A connection that remembers the SQL it was given (and runs it)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.statements: list[tuple[str, list[Any]]] = []

    def sql(self, query: str, *, params: list[Any]) -> Any:
        self.statements.append((query, params))
        return self.connection.sql(query, params=params)


def test_a_page_query_is_planned_without_late_materialization(tmp_path: Path) -> None:
    settings = DataSettings(data_dir=tmp_path, sample_rows=1000)
    catalog = Catalog(settings)
    try:
        ensure_sample(catalog, settings.sample_name, settings.sample_rows)
        with catalog.pin(settings.sample_name) as pinned:
            query = parse_query(pinned.dataset, columns=None, filters=["category:eq:alpha"], order="-amount")
            connection = catalog.cursor()
            try:
                recorder = _Recorder(connection)
                texts, _ = fetch_page(recorder, query, after=None, limit=20)  # type: ignore[arg-type]
                (sql, params), *_ = recorder.statements
                plan = "\n".join(row[1] for row in connection.execute(f"EXPLAIN {sql}", params).fetchall())
            finally:
                connection.close()
    finally:
        catalog.close()
    assert len(texts) == 20
    assert "Top N" in plan
    assert "SEMI" not in plan, plan  # the late-materialization rewrite: a semi join back on the row numbers
