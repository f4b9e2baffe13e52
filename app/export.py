"""Streamed exports: a query's whole result as NDJSON, CSV, Parquet or an Arrow IPC stream, in constant memory.

DuckDB hands out record batches (``export_batch_rows`` rows each); each batch is encoded by Arrow or DuckDB
(C++), never row by row in Python, and sent as one chunk of a chunked response. Cloud Run's 32 MiB cap does
not apply to streamed responses, so an export may be any size.

An export that cannot be produced fails before its first byte: the encoder is built from the result's schema
and the first chunk is encoded before the response starts, so a type a format cannot hold (an INTERVAL in Parquet)
or a query that fails is a 4xx/503. CSV holds only text, so columns of other types (lists, structs, blobs...) are
sent as text (nested ones as JSON). A failure after the first byte raises ``ExportBrokenError``, and the response
ends without its final chunk so the client sees a broken transfer, never a complete-looking one.

Example::

    export = open_export(cursor, query, "arrow", batch_rows=65536, pinned=pinned, budget=budget)
    while (chunk := export.next_chunk()) is not None:  # blocking: the service calls it from a worker thread
        sink.write(chunk)

Arrow and DuckDB are imported by the first export, not when the service starts (together they are most of the
example service's import time; see ``app.warmup``).
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from app.budget import Budget, RetryLaterError
from app.catalog import Pinned
from app.convert import first_line
from app.errors import DatasetError
from app.query import Query, is_scalar, quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

logger = logging.getLogger(__name__)

#: Formats and their media types.
MEDIA_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}


class _Chunks(io.RawIOBase):
    """A write-only file whose writes are collected until ``take()``: Arrow's writers write into it."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(self._parts[-1])

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class ExportBrokenError(Exception):
    """The export failed after its first byte was sent: the response must end broken (no final chunk)."""


class Export:
    """An open export: the DuckDB reader and the encoder for one format, spending ``budget`` as it encodes.

    ``first_chunk()`` runs before the response starts (errors are 4xx/503); ``next_chunk()`` after it (errors
    become ``ExportBrokenError``). ``None``: the export is complete.
    """

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        reader: pa.RecordBatchReader,
        fmt: str,
        pinned: Pinned,
        budget: Budget,
    ) -> None:
        self._cursor = cursor
        self._pinned = pinned
        self._reader = reader
        self.budget = budget
        self.format = fmt
        self.media_type = MEDIA_TYPES[fmt]
        self._closed = False
        self._chunks = self._encode()

    def _encode(self) -> Iterator[bytes]:
        if self.format == "ndjson":
            return self._ndjson()
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        sink = _Chunks()
        schema = self._reader.schema
        # Built now, from the schema alone: a type the format cannot hold fails here, before any byte is sent.
        if self.format == "csv":
            writer: Any = pa_csv.CSVWriter(sink, schema)
        elif self.format == "arrow":
            writer = pa.ipc.new_stream(sink, schema)
        else:
            writer = pq.ParquetWriter(sink, schema, compression="zstd")
        return self._written(writer, sink)

    def _written(self, writer: Any, sink: _Chunks) -> Iterator[bytes]:
        with writer:
            yield from _drain(self._reader, writer.write_batch, sink)
        yield sink.take()

    def first_chunk(self) -> bytes | None:
        """The first chunk (blocking); a failure is a 4xx/503 and closes the export."""
        import duckdb
        import pyarrow as pa

        try:
            return self.budget.run(self._cursor, lambda: next(self._chunks, None))
        except RetryLaterError:  # out of time or memory
            self.close()
            raise
        except (duckdb.Error, pa.ArrowException) as exc:
            self.close()
            raise DatasetError(f"the export cannot be produced: {first_line(exc)}", status=422) from exc
        except BaseException:
            self.close()
            raise

    def next_chunk(self) -> bytes | None:
        """The next chunk (blocking); ``None`` once complete. A failure closes the export and raises
        ``ExportBrokenError`` (logged here, with its reason)."""
        try:
            chunk = self.budget.run(self._cursor, lambda: next(self._chunks, None))
        except Exception as exc:
            self.close()
            logger.warning("export ended before its end: %s", first_line(exc))
            raise ExportBrokenError(first_line(exc)) from exc
        if chunk is None:
            self.close()
        return chunk

    def close(self) -> None:
        """Release the DuckDB result and cursor; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._reader.close()
            self._cursor.close()
            self._pinned.close()

    def _ndjson(self) -> Iterator[bytes]:
        # DuckDB already wrote each row as JSON text ending in "\n": a batch's data buffer is the chunk.
        for batch in self._reader:
            if batch.num_rows:
                yield _text_bytes(batch.column(0))


def _text_bytes(column: pa.Array) -> bytes:
    """The concatenated values of a string column without nulls: a slice of its data buffer, no per-row work."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        offsets, data = column.buffers()[1:3]
        width = 8 if pa.types.is_large_string(column.type) else 4
        form = "<q" if width == 8 else "<i"
        (start,) = struct.unpack_from(form, offsets, column.offset * width)
        (end,) = struct.unpack_from(form, offsets, (column.offset + len(column)) * width)
        return bytes(data.slice(start, end - start).to_pybytes())
    return "".join(column.to_pylist()).encode()


def _drain(reader: pa.RecordBatchReader, write: Any, sink: _Chunks) -> Iterator[bytes]:
    for batch in reader:
        write(batch)
        chunk = sink.take()
        if chunk:
            yield chunk


def _csv_projection(query: Query) -> str:
    """The columns as CSV can hold them: scalars as they are, nested values as JSON text, the rest as text."""
    parts = []
    for column in query.columns:
        name = quote(column.name)
        if is_scalar(column) and column.type != "INTERVAL":
            parts.append(name)
        elif column.type.endswith("]") or column.type.startswith(("STRUCT", "MAP", "UNION")):
            parts.append(f"to_json({name})::VARCHAR AS {name}")
        else:
            parts.append(f"CAST({name} AS VARCHAR) AS {name}")
    return ", ".join(parts)


def open_export(
    cursor: duckdb.DuckDBPyConnection, query: Query, fmt: str, *, batch_rows: int, pinned: Pinned, budget: Budget
) -> Export:
    """Start the query and build the encoder (blocking); errors surface here, before any byte is sent.

    Takes ownership of ``cursor`` and ``pinned`` (the dataset version ``query`` reads): both are closed with the
    export, or here if the query cannot start.
    """
    if fmt not in MEDIA_TYPES:
        cursor.close()
        pinned.close()
        raise DatasetError(f"unknown export format {fmt!r}; use one of {', '.join(MEDIA_TYPES)}", status=400)
    source, params = query.source()
    where, where_params = query.where()
    if fmt == "ndjson":
        select = f"{query.json_object()}::VARCHAR || chr(10) AS ndjson"
    elif fmt == "csv":
        select = _csv_projection(query)
    else:
        select = query.projection()
    order = f" ORDER BY {query.order_by()}" if query.order else ""
    sql = f"SELECT {select} FROM {source} WHERE {where}{order}"  # noqa: S608 - see app.query

    def start() -> Export:
        query.check_values(cursor)
        reader = cursor.sql(sql, params=[*params, *where_params]).to_arrow_reader(batch_rows)
        try:
            return Export(cursor, reader, fmt, pinned, budget)
        except BaseException:
            reader.close()
            raise

    try:
        return budget.run(cursor, start)
    except BaseException as exc:
        cursor.close()
        pinned.close()
        import duckdb
        import pyarrow as pa

        if isinstance(exc, duckdb.Error):
            raise DatasetError(f"the query failed: {first_line(exc)}", status=400) from exc
        if isinstance(exc, pa.ArrowException):
            raise DatasetError(
                f"this result cannot be exported as {fmt}: {first_line(exc)}; leave out the column it names "
                "('columns') or choose another format",
                status=400,
            ) from exc
        raise
