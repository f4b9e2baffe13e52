"""Uploads: the request body streamed to a temporary file, validated by DuckDB, then swapped in atomically.

The body never sits in memory whole. It is written under ``<data dir>/.tmp`` (same filesystem, so the final
``os.replace`` is atomic), read fully by DuckDB and rewritten as Parquet (that is the validation), and only
then installed under the dataset's write lock. An upload that is too large, malformed, or cut off leaves the
previous version of the dataset as it was, and its temporary files are removed.

Before DuckDB decodes anything, the file is checked against what it claims to decode to (a small Parquet file can
claim tens of millions of rows; a small CSV can have tens of thousands of columns): Parquet's footer gives its rows,
columns and uncompressed bytes, a CSV's header row its columns. Past a limit the upload is a 413. The conversion
then reads at most one row more than the row limit and runs under a time budget.

Example (what ``POST /v1/datasets/{name}`` does)::

    dataset = await receive_upload(request, catalog, "sales", fmt=None, settings=DataSettings(), budget=budget)
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from pathlib import Path

import anyio
from starlette.requests import ClientDisconnect, Request

from app.budget import Budget
from app.catalog import Catalog, Dataset, check_name
from app.columns import check_column_names
from app.convert import convert_to_parquet, describe_file, first_line
from app.errors import DatasetError
from app.settings import DataSettings

logger = logging.getLogger(__name__)

#: Upload formats, and the media types that name them (anything else is sniffed: Parquet starts with ``PAR1``).
FORMATS = ("csv", "parquet")
_MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_PARQUET_MAGIC = b"PAR1"
_WRITE_BUFFER = 1024 * 1024
#: The most of a CSV file read to find its header row.
_HEADER_BYTES = 1024 * 1024


def _too_large(what: str) -> DatasetError:
    return DatasetError(f"the upload decodes to {what}", status=413)


def check_decoded_size(raw: Path, kind: str, settings: DataSettings) -> None:
    """Refuse a file whose rows, columns or decoded bytes pass the limits, from its footer or header alone."""
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(raw)
            names = pq.read_schema(raw).names
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"not a valid PARQUET file: {str(exc)[:200]}", status=422) from exc
        if meta.num_columns > settings.max_columns:
            raise _too_large(f"{meta.num_columns} columns; at most {settings.max_columns} are allowed")
        if meta.num_rows > settings.max_upload_rows:
            raise _too_large(f"{meta.num_rows} rows; at most {settings.max_upload_rows} are allowed")
        decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if decoded > settings.max_upload_decoded_bytes:
            raise _too_large(f"{decoded} bytes; at most {settings.max_upload_decoded_bytes} are allowed")
    else:
        with raw.open("rb") as file:
            head = file.read(_HEADER_BYTES).decode("utf-8", errors="replace")
        if "\n" not in head and raw.stat().st_size > _HEADER_BYTES:
            raise _too_large(f"a header row longer than {_HEADER_BYTES} bytes")
        try:
            names = next(csv.reader(io.StringIO(head.partition("\n")[0])), [])
        except csv.Error as exc:
            raise DatasetError(f"not a valid CSV file: its header row cannot be read ({exc})", status=422) from exc
        if len(names) > settings.max_columns:
            raise _too_large(f"{len(names)} columns; at most {settings.max_columns} are allowed")
    check_column_names(names, settings.max_columns)


def _declared_format(request: Request, fmt: str | None) -> str | None:
    """The format named by ``?format=`` or the Content-Type; ``None``: sniff the body."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise DatasetError(f"unknown upload format {fmt!r}; use one of {', '.join(FORMATS)}", status=400)
        return fmt
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type.startswith("multipart/"):
        raise DatasetError("send the file itself as the request body, not a multipart form", status=415)
    if media_type in _MEDIA_TYPES:
        return _MEDIA_TYPES[media_type]
    return None


async def receive_upload(
    request: Request, catalog: Catalog, name: str, *, fmt: str | None, settings: DataSettings, budget: Budget
) -> Dataset:
    """Store the request body as dataset ``name``; 413 past a size limit, 422 if DuckDB cannot read it."""
    max_bytes = settings.max_upload_bytes
    check_name(name)
    declared = _declared_format(request, fmt)
    token = uuid.uuid4().hex
    raw = catalog.tmp_dir / f"{name}.{token}.upload"
    converted = catalog.tmp_dir / f"{name}.{token}.parquet"
    try:
        size, head = 0, b""
        async with await anyio.open_file(raw, "wb") as sink:
            pending = bytearray()
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_bytes:
                        raise DatasetError(f"the upload is larger than {max_bytes} bytes", status=413)
                    if len(head) < len(_PARQUET_MAGIC):
                        head = (head + chunk)[: len(_PARQUET_MAGIC)]
                    pending += chunk
                    if len(pending) >= _WRITE_BUFFER:
                        await sink.write(bytes(pending))
                        pending.clear()
            except ClientDisconnect as exc:
                logger.info("upload of dataset %s cut off after %d bytes; nothing changed", name, size)
                raise DatasetError("the upload was cut off before its end; nothing changed", status=400) from exc
            await sink.write(bytes(pending))
        if size == 0:
            raise DatasetError("the upload is empty: send a CSV or Parquet file as the request body", status=422)
        kind = declared or ("parquet" if head.startswith(_PARQUET_MAGIC) else "csv")

        def convert() -> None:
            import duckdb  # loaded at first use, not at start (see app.catalog)

            check_decoded_size(raw, kind, settings)
            cursor = catalog.cursor()
            try:
                if kind == "parquet":
                    # What the rows really decode to, before writing any: a footer can understate it (a long
                    # text repeated is stored once, in a dictionary). A CSV decodes to about its own size.
                    _, _, decoded = budget.run(cursor, lambda: describe_file(cursor, raw))
                    if decoded > settings.max_upload_decoded_bytes:
                        raise _too_large(f"{decoded} bytes; at most {settings.max_upload_decoded_bytes} are allowed")
                convert_to_parquet(
                    cursor,
                    raw,
                    kind,
                    converted,
                    catalog.tmp_dir,
                    max_rows=settings.max_upload_rows,
                    max_columns=settings.max_columns,
                    run=lambda call: budget.run(cursor, call),
                )
            except duckdb.Error as exc:
                raise DatasetError(f"not a valid {kind.upper()} file: {first_line(exc)}", status=422) from exc
            finally:
                cursor.close()

        await anyio.to_thread.run_sync(convert)
        async with catalog.write_lock(name):
            dataset = await anyio.to_thread.run_sync(catalog.install, name, converted)
        logger.info("dataset %s uploaded: %d bytes of %s, %d rows", name, size, kind, dataset.rows)
        return dataset
    finally:
        raw.unlink(missing_ok=True)
        converted.unlink(missing_ok=True)
