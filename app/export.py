"""Streamed exports: a query's whole result as NDJSON, CSV, Parquet or an Arrow IPC stream, in constant memory.

DuckDB hands out record batches (``export_batch_rows`` rows each); each batch is encoded by Arrow or DuckDB
(C++), never row by row in Python, and sent as one chunk of a chunked response. Cloud Run's 32 MiB cap does
not apply to streamed responses, so an export may be any size.

Example::

    export = open_export(cursor, query, "arrow", batch_rows=65536)
    for chunk in export.chunks():  # blocking: the service calls next() from a worker thread
        sink.write(chunk)
"""

from __future__ import annotations

import io
import struct
from collections.abc import Generator, Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from app.catalog import Pinned, first_line
from app.query import Query
from cloudgate.errors import DatasetError

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


class Export:
    """An open export: the DuckDB reader and the encoder for one format. ``chunks()`` encodes batch by batch."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader, fmt: str, pinned: Pinned
    ) -> None:
        self._cursor = cursor
        self._pinned = pinned
        self._reader = reader
        self.format = fmt
        self.media_type = MEDIA_TYPES[fmt]
        self._closed = False

    def chunks(self) -> Generator[bytes, None, None]:
        encode = {"ndjson": self._ndjson, "csv": self._csv, "parquet": self._parquet, "arrow": self._arrow}
        try:
            yield from encode[self.format]()
        finally:
            self.close()

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

    def _csv(self) -> Iterator[bytes]:
        sink = _Chunks()
        with pa_csv.CSVWriter(sink, self._reader.schema) as writer:
            yield from _drain(self._reader, writer.write_batch, sink)
        yield sink.take()

    def _arrow(self) -> Iterator[bytes]:
        sink = _Chunks()
        with pa.ipc.new_stream(sink, self._reader.schema) as writer:
            yield from _drain(self._reader, writer.write_batch, sink)
        yield sink.take()

    def _parquet(self) -> Iterator[bytes]:
        sink = _Chunks()
        with pq.ParquetWriter(sink, self._reader.schema, compression="zstd") as writer:
            yield from _drain(self._reader, writer.write_batch, sink)
        yield sink.take()


def _text_bytes(column: pa.Array) -> bytes:
    """The concatenated values of a string column without nulls: a slice of its data buffer, no per-row work."""
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


def open_export(
    cursor: duckdb.DuckDBPyConnection, query: Query, fmt: str, *, batch_rows: int, pinned: Pinned
) -> Export:
    """Start the query (blocking); errors surface here, before any byte is sent.

    Takes ownership of ``cursor`` and ``pinned`` (the dataset version ``query`` reads): both are closed with the
    export, or here if the query cannot start.
    """
    if fmt not in MEDIA_TYPES:
        cursor.close()
        pinned.close()
        raise DatasetError(f"unknown export format {fmt!r}; use one of {', '.join(MEDIA_TYPES)}", status=400)
    source, params = query.source()
    where, where_params = query.where()
    select = f"{query.json_object()}::VARCHAR || chr(10) AS ndjson" if fmt == "ndjson" else query.projection()
    order = f" ORDER BY {query.order_by()}" if query.order else ""
    sql = f"SELECT {select} FROM {source} WHERE {where}{order}"  # noqa: S608 - see app.query
    try:
        query.check_values(cursor)
        reader = cursor.sql(sql, params=[*params, *where_params]).to_arrow_reader(batch_rows)
    except BaseException as exc:
        cursor.close()
        pinned.close()
        if isinstance(exc, duckdb.Error):
            raise DatasetError(f"the query failed: {first_line(exc)}", status=400) from exc
        raise
    return Export(cursor, reader, fmt, pinned)
