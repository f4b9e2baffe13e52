"""The dataset routes: list, describe, page through rows, export, upload, delete.

Blocking work (DuckDB, file system) runs in worker threads, so the event loop never waits on a query. A
non-streamed answer larger than the service's ``max_response_bytes`` is refused with a 422 that points to
paging or ``/export`` (Cloud Run would turn it into an empty 500); exports stream, so any size is fine.

What a request costs is bounded (``app.admission.Guards``): pages and exports run under a DuckDB time budget,
exports and uploads take one of a fixed number of slots per instance, and an export whose client stops reading
is ended after ``export_send_timeout_seconds``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Path, Query, Request, Response

from app.catalog import Dataset
from app.deps import Admin, CatalogDep, CodecDep, DataSettingsDep, GuardsDep, Reader, Writer
from app.errors import DatasetError
from app.export import MEDIA_TYPES, Export, open_export
from app.paging import fetch_page
from app.query import parse_query
from app.responses import DELETE, DESCRIBE, EXPORT, LIST, NAME_PATTERN, NAME_RULE, ROWS, UPLOAD
from app.streaming import ExportResponse
from app.upload import FORMATS, receive_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

_T = TypeVar("_T")
# Rules stated in the schema (json_schema_extra) and enforced by the code with a 400 in the common error shape
# (``check_name``, the export and upload format checks), not by FastAPI's 422.
Name = Annotated[
    str,
    Path(
        description=f"The dataset's name: {NAME_RULE}.",
        json_schema_extra={"pattern": NAME_PATTERN},
        examples=["sample"],  # the dataset the service creates at start-up (CLOUDGATE_SAMPLE_NAME)
    ),
]
Columns = Annotated[str | None, Query(description="Columns to return, comma separated (default: all).")]
Filters = Annotated[
    list[str],
    Query(
        alias="filter",
        description="`column:op:value`, repeatable; op is eq, ne, lt, le, gt, ge, in (comma list), contains.",
    ),
]
Order = Annotated[str | None, Query(description="Order keys, comma separated; `-col` is descending.")]


async def _run(function: Callable[..., _T], *args: Any) -> _T:
    return await anyio.to_thread.run_sync(function, *args)


def describe(dataset: Dataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "rows": dataset.rows,
        "format": dataset.source_format,
        "version": dataset.version,
        "columns": [{"name": c.name, "type": c.type} for c in dataset.columns],
    }


def capped(request: Request, body: bytes, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    """A JSON response, unless it would pass the response cap: then a 422 saying how to ask for less."""
    cap = request.app.state.cloudgate_settings.max_response_bytes
    if len(body) > cap:
        raise DatasetError(
            f"the response would be {len(body)} bytes, over the {cap}-byte limit for non-streamed responses: "
            "ask for fewer rows (limit) or columns and follow the 'next' cursor, or stream the whole result "
            "from /v1/datasets/{name}/export",
            status=422,
        )
    return Response(body, status_code=status, media_type="application/json", headers=headers)


@router.get("", summary="List the datasets with their row counts and schemas", responses=LIST)
async def list_datasets(request: Request, caller: Reader, catalog: CatalogDep) -> Response:
    datasets = await _run(catalog.list)
    return capped(request, json.dumps({"datasets": [describe(d) for d in datasets]}).encode())


@router.get("/{name}", summary="One dataset's row count and schema", responses=DESCRIBE)
async def get_dataset(request: Request, name: Name, caller: Reader, catalog: CatalogDep) -> Response:
    dataset = await _run(catalog.get, name)
    return capped(request, json.dumps(describe(dataset)).encode())


@router.get(
    "/{name}/rows",
    summary="A page of rows; follow `next` (or the Link header) for the next page",
    responses=ROWS,
)
async def rows(
    request: Request,
    name: Name,
    caller: Reader,
    catalog: CatalogDep,
    settings: DataSettingsDep,
    codec: CodecDep,
    guards: GuardsDep,
    columns: Columns = None,
    filters: Filters = [],  # noqa: B006 - FastAPI copies defaults
    order: Order = None,
    limit: Annotated[int | None, Query(ge=1, description="Rows per page; clamped to the maximum (10000).")] = None,
    cursor: Annotated[str | None, Query(description="The `next` value of the previous page.")] = None,
) -> Response:
    page_limit = min(limit or settings.default_page_limit, settings.max_page_limit)
    budget = guards.page_budget()

    def read() -> tuple[bytes, str | None]:
        with catalog.pin(name) as pinned:
            # Wide rows make fewer per page: a page's memory is bounded by bytes, not by its row count alone.
            rows_limit = pinned.dataset.batch_rows(page_limit, settings.max_page_bytes)
            query = parse_query(pinned.dataset, columns=columns, filters=filters, order=order, caps=guards.caps)
            after = codec.decode(query, cursor) if cursor is not None else None
            connection = catalog.cursor()
            try:
                budget.run(connection, lambda: query.check_values(connection))
                texts, last = budget.run(
                    connection, lambda: fetch_page(connection, query, after=after, limit=rows_limit)
                )
            finally:
                connection.close()
        token = codec.encode(query, last) if last is not None else None
        head = json.dumps({"dataset": name, "version": query.dataset.version, "limit": rows_limit})[:-1]
        body = f'{head}, "next": {json.dumps(token)}, "rows": [{",".join(texts)}]}}'
        return body.encode(), token

    slot = await guards.pages.acquire()  # waits for a free query slot, then 429
    try:
        body, token = await _run(read)
    finally:
        slot.release()
    headers = {}
    if token is not None:
        link = request.url.include_query_params(cursor=token)
        headers["Link"] = f'<{link.path}?{link.query}>; rel="next"'
    return capped(request, body, headers)


@router.get(
    "/{name}/export",
    summary="The whole (filtered) result, streamed: ndjson, csv, parquet or arrow",
    responses=EXPORT,
)
async def export(
    name: Name,
    caller: Reader,
    catalog: CatalogDep,
    settings: DataSettingsDep,
    guards: GuardsDep,
    format: Annotated[
        str, Query(description="The format of the stream.", json_schema_extra={"enum": list(MEDIA_TYPES)})
    ] = "ndjson",
    columns: Columns = None,
    filters: Filters = [],  # noqa: B006 - FastAPI copies defaults
    order: Order = None,
) -> Response:
    slot = await guards.exports.acquire()  # 429 when the instance already streams its share

    def start() -> tuple[Export, bytes | None]:
        pinned = catalog.pin(name)
        try:
            query = parse_query(pinned.dataset, columns=columns, filters=filters, order=order, caps=guards.caps)
        except BaseException:
            pinned.close()
            raise
        opened = open_export(
            catalog.cursor(),
            query,
            format,
            batch_rows=pinned.dataset.batch_rows(settings.export_batch_rows, settings.export_batch_bytes),
            pinned=pinned,
            budget=guards.export_start_budget(),
        )
        first = opened.first_chunk()
        opened.budget = guards.export_budget()
        return opened, first

    try:
        opened, first = await _run(start)
    except BaseException:
        slot.release()
        raise
    extension = {"ndjson": "ndjson", "csv": "csv", "parquet": "parquet", "arrow": "arrows"}[format]
    return ExportResponse(
        opened,
        first,
        slot,
        send_timeout=settings.export_send_timeout_seconds,
        headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'},
    )


# The body is the file itself: JSON Schema can only say "bytes" (a body that is not a valid file is a 422).
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string", "format": "binary", "minLength": 1},
                "example": "city,amount\nParis,12.5\nLyon,3\n",
            },
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
        },
    }
}


@router.post(
    "/{name}",
    status_code=201,
    summary="Upload CSV or Parquet as the request body",
    openapi_extra=_UPLOAD_BODY,
    responses=UPLOAD,
)
async def upload(
    request: Request,
    name: Name,
    caller: Writer,
    catalog: CatalogDep,
    settings: DataSettingsDep,
    guards: GuardsDep,
    format: Annotated[
        str | None,
        Query(
            description="The body's format (default: from Content-Type or the bytes).",
            json_schema_extra={"enum": list(FORMATS)},
        ),
    ] = None,
) -> Response:
    slot = await guards.uploads.acquire()  # 429 when the instance already takes its share of uploads
    try:
        dataset = await receive_upload(
            request, catalog, name, fmt=format, settings=settings, budget=guards.upload_budget()
        )
    finally:
        slot.release()
    return capped(request, json.dumps(describe(dataset)).encode(), status=201)


@router.delete("/{name}", status_code=204, summary="Delete a dataset", responses=DELETE)
async def delete(name: Name, caller: Admin, catalog: CatalogDep) -> Response:
    async with catalog.write_lock(name):
        await _run(catalog.remove, name)
    return Response(status_code=204)
