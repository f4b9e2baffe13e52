"""A dataset query from URL parameters: column selection, structured filters, ordering, and its SQL.

Every user value reaches DuckDB as a bound parameter; identifiers come from the dataset's own schema and are
quoted; types named in ``CAST`` pass a whitelist first. Nothing a caller sends is pasted into SQL text.

What one request may ask for is capped (``QueryCaps``: filters, values across all filters, columns, order keys),
and its values are checked in one DuckDB statement, never one per value: the cost of a request is bounded before
it runs, and the time budget (``app.budget``) bounds it while it runs.

Filters read ``column:op:value`` with ``op`` one of ``eq ne lt le gt ge in contains``; ``in`` takes a
comma-separated list, ``contains`` works on text columns. ``order`` reads ``col,-other`` (``-``: descending).

Example::

    query = parse_query(dataset, columns="ts,amount", filters=["category:in:alpha,beta"], order="-amount")
    sql, params = query.where()
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.catalog import Dataset
from app.columns import Column
from app.convert import first_line
from app.errors import DatasetError

if TYPE_CHECKING:  # imported where used: the service starts without DuckDB (see app.catalog)
    import duckdb

#: Comparison operators and their SQL; ``in`` and ``contains`` are handled on their own.
_COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
OPERATORS = (*_COMPARISONS, "in", "contains")
#: Most values one ``in`` filter may list (``QueryCaps.filter_values`` also caps them across all filters).
MAX_IN_VALUES = 1000


@dataclass(frozen=True, slots=True)
class QueryCaps:
    """The most one request may ask for (the ``CLOUDGATE_MAX_*`` settings)."""

    filters: int = 20
    filter_values: int = 1000
    columns: int = 1000
    order_keys: int = 8


#: Types a filter value or a cursor key may be cast to (so a type name in SQL text is always one of these).
_SCALAR_TYPE = re.compile(
    r"(BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d{1,2},\d{1,2}\)|DATE|TIME"
    r"|TIMESTAMP(_S|_MS|_NS| WITH TIME ZONE)?|VARCHAR|UUID|INTERVAL)"
)
#: The row id DuckDB's Parquet reader adds; the last key of every order, so the order is total.
ROW_ID = "file_row_number"


def quote(identifier: str) -> str:
    """An SQL identifier, quoted (``"`` doubled inside)."""
    return '"' + identifier.replace('"', '""') + '"'


def is_scalar(column: Column) -> bool:
    """Whether ``column`` has one of the plain types filters, order keys and cursors work with."""
    return _SCALAR_TYPE.fullmatch(column.type) is not None


def _scalar(column: Column, purpose: str) -> str:
    if not _SCALAR_TYPE.fullmatch(column.type):
        raise DatasetError(f"column {column.name!r} has type {column.type}, which cannot be {purpose}", status=400)
    return column.type


@dataclass(frozen=True, slots=True)
class Filter:
    """``column op values``; ``values`` has one entry except for ``in``."""

    column: Column
    op: str
    values: tuple[str, ...]

    def sql(self) -> tuple[str, list[Any]]:
        name = quote(self.column.name)
        if self.op == "contains":
            if self.column.type != "VARCHAR":
                raise DatasetError(f"'contains' needs a text column; {self.column.name!r} is {self.column.type}")
            return f"contains({name}, ?)", list(self.values)
        target = _scalar(self.column, "filtered")
        if self.op == "in":
            # One list parameter: DuckDB plans it as a semi-join, not a chain of comparisons per value.
            return f"{name} IN (SELECT unnest(CAST(? AS {target}[])))", [list(self.values)]
        return f"{name} {_COMPARISONS[self.op]} CAST(? AS {target})", list(self.values)


@dataclass(frozen=True, slots=True)
class OrderKey:
    column: Column
    descending: bool = False

    def sql(self) -> str:
        return f"{quote(self.column.name)} {'DESC' if self.descending else 'ASC'} NULLS LAST"


@dataclass(frozen=True, slots=True)
class Query:
    """What a caller asked of one dataset; ``where``/``order_by``/``projection`` give its SQL parts."""

    dataset: Dataset
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...]
    order: tuple[OrderKey, ...]

    def fingerprint(self) -> str:
        """Identifies the query's shape, so a cursor cannot be replayed against a different query."""
        shape = [
            self.dataset.name,
            [c.name for c in self.columns],
            [[f.column.name, f.op, list(f.values)] for f in self.filters],
            [[k.column.name, k.descending] for k in self.order],
        ]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]

    def source(self) -> tuple[str, list[Any]]:
        return f"read_parquet(?, {ROW_ID} = true)", [str(self.dataset.path)]

    def where(self) -> tuple[str, list[Any]]:
        """``cond AND cond ...`` (``TRUE`` without filters) and its parameters."""
        parts, params = ["TRUE"], []
        for item in self.filters:
            sql, values = item.sql()
            parts.append(sql)
            params.extend(values)
        return " AND ".join(parts), params

    def order_by(self) -> str:
        """The total order: the requested keys, then the row id."""
        return ", ".join([*(key.sql() for key in self.order), ROW_ID])

    def projection(self) -> str:
        return ", ".join(quote(c.name) for c in self.columns)

    def json_object(self) -> str:
        """One JSON object per row, built by DuckDB; non-finite floats become null (JSON has no NaN)."""
        fields = []
        for column in self.columns:
            name = quote(column.name)
            value = f"CASE WHEN isfinite({name}) THEN {name} END" if column.type in {"FLOAT", "DOUBLE"} else name
            fields.append(f"{name} := {value}")
        return f"to_json(struct_pack({', '.join(fields)}))"

    def check_values(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Check that every filter value casts to its column's type, in one statement; a bad one is a 400 naming it
        rather than a failure mid-query."""
        pairs = [
            (value, _scalar(item.column, "filtered"), item.column.name)
            for item in self.filters
            if item.op != "contains"
            for value in item.values
        ]
        bad = first_uncastable(cursor, [(value, target) for value, target, _ in pairs])
        if bad is None:
            return
        value, target, column = pairs[bad]
        import duckdb

        try:
            cursor.sql(f"SELECT CAST(? AS {target})", params=[value]).fetchall()
            reason = "it does not cast"
        except duckdb.Error as exc:
            reason = first_line(exc)
        raise DatasetError(
            f"filter value {value[:200]!r} is not a valid {target} for column {column!r}: {reason}", status=400
        )


def first_uncastable(cursor: duckdb.DuckDBPyConnection, pairs: list[tuple[str | None, str]]) -> int | None:
    """The index of the first ``(text, type)`` whose text does not cast to the type (``None`` text always does),
    found by one statement whatever the number of pairs; ``None`` if all cast."""
    by_type: dict[str, list[int]] = {}
    for index, (value, target) in enumerate(pairs):
        if value is not None:
            by_type.setdefault(target, []).append(index)
    if not by_type:
        return None
    parts, params = [], []
    for target, indexes in by_type.items():  # each target passed _SCALAR_TYPE: safe in SQL text
        parts.append(
            f"SELECT i FROM (SELECT unnest(?::BIGINT[]) AS i, unnest(?::VARCHAR[]) AS x) "  # noqa: S608
            f"WHERE TRY_CAST(x AS {target}) IS NULL"
        )
        params += [indexes, [pairs[i][0] for i in indexes]]
    found = cursor.sql(f"SELECT min(i) FROM ({' UNION ALL '.join(parts)})", params=params).fetchall()  # noqa: S608
    return None if found[0][0] is None else int(found[0][0])


def parse_query(
    dataset: Dataset,
    *,
    columns: str | None,
    filters: list[str],
    order: str | None,
    caps: QueryCaps | None = None,
) -> Query:
    """Validate the URL parameters against the dataset's schema and ``caps``; anything wrong is a 400 saying what."""
    caps = caps or QueryCaps()
    if len(filters) > caps.filters:
        raise DatasetError(f"at most {caps.filters} filters are allowed in one request", status=400)
    selected = dataset.columns
    if columns is not None:
        names = [name.strip() for name in columns.split(",", caps.columns) if name.strip()]
        if not names:
            raise DatasetError("'columns' lists no column", status=400)
        if len(names) > caps.columns:
            raise DatasetError(f"'columns' may list at most {caps.columns} columns", status=400)
        selected = tuple(dataset.column(name) for name in names)
        if len({c.name for c in selected}) != len(selected):
            raise DatasetError("'columns' names a column twice (names are compared case-insensitively)", status=400)
    parsed = tuple(_parse_filter(dataset, f, caps.filter_values) for f in filters)
    if sum(len(f.values) for f in parsed) > caps.filter_values:
        raise DatasetError(f"the filters may list at most {caps.filter_values} values in all", status=400)
    return Query(dataset, selected, parsed, _parse_order(dataset, order, caps.order_keys))


def _parse_filter(dataset: Dataset, text: str, max_values: int) -> Filter:
    name, op, value = ([*text.split(":", 2), "", ""])[:3]
    if text.count(":") < 2 or not name:
        raise DatasetError(f"filter {text[:200]!r} does not read 'column:op:value'", status=400)
    column = dataset.column(name)
    if op not in OPERATORS:
        raise DatasetError(f"unknown filter operator {op[:50]!r}; use one of {', '.join(OPERATORS)}", status=400)
    if op == "in":
        most = min(MAX_IN_VALUES, max_values)
        values = tuple(value.split(",", most))  # never more than one piece past the cap, however long the list
        if len(values) > most:
            raise DatasetError(f"'in' takes at most {most} values", status=400)
        return Filter(column, op, values)
    return Filter(column, op, (value,))


def _parse_order(dataset: Dataset, order: str | None, max_keys: int) -> tuple[OrderKey, ...]:
    if order is None:
        return ()
    parts = order.split(",", max_keys)
    if len(parts) > max_keys:
        raise DatasetError(f"'order' may name at most {max_keys} keys", status=400)
    keys = []
    for part in (p.strip() for p in parts):
        if not part or part == "-":
            raise DatasetError(f"'order' {order[:200]!r} has an empty key", status=400)
        descending = part.startswith("-")
        column = dataset.column(part[1:] if descending else part)
        _scalar(column, "ordered by")
        keys.append(OrderKey(column, descending))
    if len({k.column.name for k in keys}) != len(keys):
        raise DatasetError("'order' names a column twice (names are compared case-insensitively)", status=400)
    return tuple(keys)
