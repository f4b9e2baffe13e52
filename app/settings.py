"""Settings of the dataset service, read from ``CLOUDGATE_*`` environment variables (cloudgate's ``EnvSettings``).

The service core's own settings (keys, identity, the response cap) live in ``cloudgate.service.settings``;
these are the ones only this example needs.

Example::

    CLOUDGATE_DATA_DIR=/mnt/bucket CLOUDGATE_SAMPLE_ROWS=0 cloudgate serve app.main:create_app
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from cloudgate.service.env_settings import EnvSettings

#: The largest page ``GET /v1/datasets/{name}/rows`` returns, whatever ``limit`` asks for (documented).
MAX_PAGE_LIMIT = 10_000


class DataSettings(EnvSettings):
    """What the dataset service reads from the environment (prefix ``CLOUDGATE_``)."""

    data_dir: Path = Field(Path("data"), description="Folder of the datasets (`<name>.parquet`, `<name>.csv`).")
    max_upload_bytes: int = Field(
        32 * 1024 * 1024 - 1, ge=1, description="Larger uploads get 413 (the service core's body limit also applies)."
    )
    default_page_limit: int = Field(100, ge=1, le=MAX_PAGE_LIMIT, description="Rows per page when `limit` is absent.")
    max_page_limit: int = Field(
        MAX_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="A larger `limit` is clamped to this."
    )
    max_page_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Fewer rows per page when rows are so wide that a page passes this."
    )
    sample_rows: int = Field(
        1_000_000, ge=0, description="Rows of the sample dataset generated on first start; 0: no sample."
    )
    sample_name: str = Field("sample", description="Name of the generated sample dataset.")
    export_batch_rows: int = Field(65_536, ge=1, description="Rows per record batch when streaming an export.")
    export_batch_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Fewer rows per batch when rows are so wide that a batch passes this."
    )
    duckdb_memory_limit: str | None = Field(
        None,
        description="DuckDB `memory_limit` (e.g. `256MB`); spills to disk beyond it. "
        "Default: 25% of the instance's memory limit (its cgroup), else of the machine's memory.",
    )
    duckdb_threads: int | None = Field(
        None, ge=1, description="DuckDB worker threads. Default: the CPU limit, at most one per 256 MiB of memory."
    )
    duckdb_temp_directory: Path | None = Field(
        None, description="Where DuckDB spills (sorts, joins) past its memory limit. Default: `<data dir>/.tmp`."
    )
    duckdb_max_temp_bytes: int | None = Field(
        None,
        ge=1,
        description="Most bytes DuckDB may spill; a query needing more fails (503). Default: 25% of the instance's "
        "memory limit (on Cloud Run the local disk is memory).",
    )
    max_concurrent_exports: int | None = Field(
        None,
        ge=1,
        description="Exports streaming at once on one instance; more get 429. Default: 1 per 256 MiB of memory (at least 2).",
    )
    max_concurrent_pages: int | None = Field(
        None,
        ge=1,
        description="Pages being queried at once; more wait (up to `query_wait_seconds`), then 429. "
        "Default: two per CPU.",
    )
    query_wait_seconds: float = Field(10.0, ge=0, description="How long a page waits for a free query slot.")
    max_concurrent_uploads: int = Field(2, ge=1, description="Uploads in progress at once; more wait, then 429.")
    upload_wait_seconds: float = Field(
        30.0, ge=0, description="How long an upload waits for a free upload slot before it gets 429."
    )
    export_send_timeout_seconds: float = Field(
        30.0, gt=0, description="An export whose client takes longer than this to accept one chunk is ended."
    )
    query_seconds: float = Field(
        10.0, gt=0, description="DuckDB time one request (a page, the start of an export) may use; then 503."
    )
    export_seconds: float = Field(
        120.0, gt=0, description="DuckDB time one export may use in all (waiting on the client does not count)."
    )
    upload_seconds: float = Field(60.0, gt=0, description="DuckDB time converting one upload may use; then 503.")
    max_filters: int = Field(20, ge=0, description="Most `filter` parameters in one request.")
    max_filter_values: int = Field(1000, ge=1, description="Most values across all filters of one request.")
    max_columns: int = Field(1000, ge=1, description="Most columns a request may list, and an upload may have.")
    max_order_keys: int = Field(8, ge=1, description="Most `order` keys in one request.")
    max_upload_rows: int = Field(5_000_000, ge=1, description="Most rows an upload may decode to.")
    max_upload_decoded_bytes: int = Field(
        1024 * 1024 * 1024, ge=1, description="Most bytes an upload may decode to (Parquet's uncompressed size)."
    )
    cursor_secret: SecretStr = Field(
        SecretStr(""),
        description="Signs paging cursors (HMAC-SHA256) when set; share it across instances.",
    )
