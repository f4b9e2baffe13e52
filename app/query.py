"""A dataset query from URL parameters: column selection, structured filters, ordering, and its SQL.

Every user value reaches DuckDB as a bound parameter; identifiers come from the dataset's own schema and are
quoted; types named in ``CAST`` pass a whitelist first. Nothing a caller sends is pasted into SQL text.

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
from typing import Any

import duckdb

from app.catalog import Column, Dataset, first_line
from cloudgate.errors import DatasetError

#: Comparison operators and their SQL; ``in`` and ``contains`` are handled on their own.
_COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
OPERATORS = (*_COMPARISONS, "in", "contains")
#: Most values one ``in`` filter may list.
MAX_IN_VALUES = 1000
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
        cast = f"CAST(? AS {_scalar(self.column, 'filtered')})"
        if self.op == "in":
            return f"{name} IN ({', '.join([cast] * len(self.values))})", list(self.values)
        return f"{name} {_COMPARISONS[self.op]} {cast}", list(self.values)


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
        """Cast every filter value once, so a bad one is a 400 naming it rather than a failure mid-query."""
        for item in self.filters:
            if item.op == "contains":
                continue
            target = _scalar(item.column, "filtered")
            for value in item.values:
                try:
                    cursor.sql(f"SELECT CAST(? AS {target})", params=[value]).fetchall()
                except duckdb.Error as exc:
                    raise DatasetError(
                        f"filter value {value!r} is not a valid {target} for column {item.column.name!r}: "
                        f"{first_line(exc)}",
                        status=400,
                    ) from exc


def parse_query(dataset: Dataset, *, columns: str | None, filters: list[str], order: str | None) -> Query:
    """Validate the URL parameters against the dataset's schema; anything wrong is a 400 saying what."""
    selected = dataset.columns
    if columns is not None:
        names = [name.strip() for name in columns.split(",") if name.strip()]
        if not names:
            raise DatasetError("'columns' lists no column", status=400)
        if len(set(names)) != len(names):
            raise DatasetError("'columns' names a column twice", status=400)
        selected = tuple(dataset.column(name) for name in names)
    return Query(dataset, selected, tuple(_parse_filter(dataset, f) for f in filters), _parse_order(dataset, order))


def _parse_filter(dataset: Dataset, text: str) -> Filter:
    name, op, value = ([*text.split(":", 2), "", ""])[:3]
    if text.count(":") < 2 or not name:
        raise DatasetError(f"filter {text!r} does not read 'column:op:value'", status=400)
    column = dataset.column(name)
    if op not in OPERATORS:
        raise DatasetError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}", status=400)
    if op == "in":
        values = tuple(value.split(","))
        if len(values) > MAX_IN_VALUES:
            raise DatasetError(f"'in' takes at most {MAX_IN_VALUES} values", status=400)
        return Filter(column, op, values)
    return Filter(column, op, (value,))


def _parse_order(dataset: Dataset, order: str | None) -> tuple[OrderKey, ...]:
    if order is None:
        return ()
    keys = []
    for part in (p.strip() for p in order.split(",")):
        if not part or part == "-":
            raise DatasetError(f"'order' {order!r} has an empty key", status=400)
        descending = part.startswith("-")
        column = dataset.column(part[1:] if descending else part)
        _scalar(column, "ordered by")
        keys.append(OrderKey(column, descending))
    if len({k.column.name for k in keys}) != len(keys):
        raise DatasetError("'order' names a column twice", status=400)
    return tuple(keys)
