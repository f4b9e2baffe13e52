"""Reading a file in: converting an upload (or a CSV in the data folder) to Parquet, and measuring what a Parquet
file decodes to.

DuckDB reads every row of the source, which is the validation, and writes the Parquet copy beside the target before
renaming it into place, so a target only ever appears complete. ``measure`` gives a file's rows and decoded bytes
(fixed-width values plus the bytes of variable-width ones) in one statement.

Example::

    rows = convert_to_parquet(cursor, Path("upload.csv"), "csv", Path("sales.parquet"), tmp_dir, max_rows=5_000_000)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.columns import Column, check_column_names
from app.errors import DatasetError

if TYPE_CHECKING:  # imported where used: the service starts without DuckDB (see app.catalog)
    import duckdb

#: Bytes per value of DuckDB's fixed-width types; other types are measured value by value.
_WIDTHS = {
    "BOOLEAN": 1, "TINYINT": 1, "UTINYINT": 1, "SMALLINT": 2, "USMALLINT": 2, "INTEGER": 4, "UINTEGER": 4,
    "BIGINT": 8, "UBIGINT": 8, "HUGEINT": 16, "UHUGEINT": 16, "FLOAT": 4, "DOUBLE": 8, "DATE": 4, "TIME": 8,
    "TIMESTAMP": 8, "TIMESTAMP_S": 8, "TIMESTAMP_MS": 8, "TIMESTAMP_NS": 8, "TIMESTAMP WITH TIME ZONE": 8,
    "UUID": 16, "INTERVAL": 16,
}  # fmt: skip


def describe_file(cursor: duckdb.DuckDBPyConnection, path: Path) -> tuple[tuple[Column, ...], int, int]:
    """The columns of the Parquet file at ``path``, its rows, and the bytes they decode to."""
    relation = cursor.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
    columns = tuple(Column(n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True))
    rows, decoded = measure(cursor, path, columns)
    return columns, rows, decoded


def measure(cursor: duckdb.DuckDBPyConnection, path: Path, columns: tuple[Column, ...]) -> tuple[int, int]:
    """The rows of the Parquet file at ``path`` and the bytes they decode to, in one statement (a scan of the
    variable-width columns only; without any, Parquet's footer answers)."""
    fixed = 0
    measured = []
    for column in columns:
        width = _WIDTHS.get(column.type, 16 if column.type.startswith("DECIMAL") else None)
        if width is not None:
            fixed += width
            continue
        name = '"' + column.name.replace('"', '""') + '"'
        if column.type == "BLOB":
            measured.append(f"coalesce(sum(octet_length({name})), 0)")
        else:  # strlen counts bytes; other types by the length of their text
            value = name if column.type == "VARCHAR" else f"CAST({name} AS VARCHAR)"
            measured.append(f"coalesce(sum(strlen({value})), 0)")
    sql = f"SELECT count(*), {' + '.join(['0', *measured])} FROM read_parquet(?)"  # noqa: S608 - quoted names
    rows, variable = cursor.sql(sql, params=[str(path)]).fetchall()[0]
    return int(rows), int(rows) * fixed + int(variable)


def first_line(exc: BaseException) -> str:
    """The first line of a DuckDB error, which says what was wrong without DuckDB's long list of hints."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def convert_to_parquet(
    cursor: duckdb.DuckDBPyConnection,
    source: Path,
    fmt: str,
    target: Path,
    tmp_dir: Path,
    *,
    max_rows: int | None = None,
    max_columns: int = 100_000,
    run: Callable[[Callable[[], None]], None] | None = None,
) -> int:
    """Read ``source`` (``csv`` or ``parquet``) fully, write it to ``target`` as Parquet, return its row count.

    Reading every row is the validation: a malformed file raises a 422 whose message names no server path.
    ``target`` appears only complete (written beside it, then renamed). Past ``max_rows`` the file is refused
    (413) after reading one row more, never all of it; ``run`` wraps the DuckDB work (a time budget).
    """
    import duckdb

    # CSV is RFC 4180 with a header row. The dialect is fixed: left to guess, DuckDB's sniffer takes a ragged
    # file for a headerless one that starts at a later line, or for one column of text.
    csv = "read_csv(?, header = true, skip = 0, delim = ',', quote = '\"', escape = '\"', strict_mode = true)"
    reader = csv if fmt == "csv" else "read_parquet(?)"
    partial = tmp_dir / f"{target.name}.{os.getpid()}.{threading.get_ident()}.partial"
    limit = f" LIMIT {int(max_rows) + 1}" if max_rows is not None else ""
    try:

        def write() -> None:
            relation = cursor.sql(f"SELECT * FROM {reader}{limit}", params=[str(source)])  # noqa: S608 - fixed text
            check_column_names(relation.columns, max_columns)
            relation.write_parquet(str(partial))

        (run or (lambda call: call()))(write)
        rows = _parquet_rows(partial)
        if max_rows is not None and rows > max_rows:
            raise DatasetError(f"the file has more than {max_rows} rows, the most an upload may have", status=413)
        os.replace(partial, target)
        return rows
    except duckdb.Error as exc:
        message = first_line(exc).replace(str(source), "the upload").replace(str(partial), "the copy")
        raise DatasetError(f"not a valid {fmt.upper()} file: {message}", status=422) from exc
    finally:
        partial.unlink(missing_ok=True)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)
