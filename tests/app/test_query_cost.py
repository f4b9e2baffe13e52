"""The cost of a query is bounded before it runs: every filter value is checked in one DuckDB statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from app.catalog import Dataset
from app.columns import Column
from app.errors import DatasetError
from app.query import QueryCaps, parse_query

_DATASET = Dataset(
    "d",
    Path("d.parquet"),
    "v1",
    (Column("id", "BIGINT"), Column("ts", "TIMESTAMP"), Column("t", "VARCHAR")),
    10,
    "parquet",
)


class _Counting:
    """A DuckDB connection that counts the statements it is given."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()
        self.statements = 0

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self.connection.cursor().sql(*args, **kwargs)


def test_a_thousand_filter_values_are_checked_in_one_statement() -> None:
    query = parse_query(
        _DATASET,
        columns=None,
        filters=["id:in:" + ",".join(str(i) for i in range(500)), "ts:in:" + ",".join(["2024-01-01"] * 500)],
        order=None,
    )
    counting = _Counting()
    query.check_values(counting)  # type: ignore[arg-type]
    assert counting.statements == 1


def test_a_bad_value_is_named_among_many() -> None:
    values = [str(i) for i in range(999)] + ["x7"]
    query = parse_query(_DATASET, columns=None, filters=["id:in:" + ",".join(values)], order=None)
    with pytest.raises(DatasetError, match="'x7'"):
        query.check_values(duckdb.connect())


@pytest.mark.parametrize(
    ("kwargs", "caps"),
    [
        ({"filters": ["id:ge:1"] * 3}, QueryCaps(filters=2)),
        ({"filters": ["id:in:1,2,3", "id:in:4,5"]}, QueryCaps(filter_values=4)),
        ({"columns": "id,ts,t"}, QueryCaps(columns=2)),
        ({"order": "id,ts"}, QueryCaps(order_keys=1)),
    ],
    ids=["filters", "values", "columns", "order-keys"],
)
def test_caps_refuse_a_request_asking_for_more(kwargs: dict[str, Any], caps: QueryCaps) -> None:
    arguments: dict[str, Any] = {"columns": None, "filters": [], "order": None, **kwargs}
    with pytest.raises(DatasetError, match="at most") as refused:
        parse_query(_DATASET, caps=caps, **arguments)
    assert refused.value.status == 400
