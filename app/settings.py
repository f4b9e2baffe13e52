"""Settings of the dataset service, read from ``CLOUDGATE_*`` environment variables (pydantic-settings).

The service core's own settings (keys, identity, the response cap) live in ``cloudgate.service.settings``;
these are the ones only this example needs.

Example::

    CLOUDGATE_DATA_DIR=/mnt/bucket CLOUDGATE_SAMPLE_ROWS=0 cloudgate serve app.main:create_app
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The largest page ``GET /v1/datasets/{name}/rows`` returns, whatever ``limit`` asks for (documented).
MAX_PAGE_LIMIT = 10_000


class DataSettings(BaseSettings):
    """What the dataset service reads from the environment (prefix ``CLOUDGATE_``)."""

    model_config = SettingsConfigDict(env_prefix="CLOUDGATE_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("data"), description="Folder of the datasets (`<name>.parquet`, `<name>.csv`).")
    max_upload_bytes: int = Field(
        32 * 1024 * 1024 - 1, ge=1, description="Larger uploads get 413 (the service core's body limit also applies)."
    )
    default_page_limit: int = Field(100, ge=1, le=MAX_PAGE_LIMIT, description="Rows per page when `limit` is absent.")
    max_page_limit: int = Field(
        MAX_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="A larger `limit` is clamped to this."
    )
    sample_rows: int = Field(
        1_000_000, ge=0, description="Rows of the sample dataset generated on first start; 0: no sample."
    )
    sample_name: str = Field("sample", description="Name of the generated sample dataset.")
    export_batch_rows: int = Field(65_536, ge=1, description="Rows per record batch when streaming an export.")
    duckdb_memory_limit: str | None = Field(
        None, description="DuckDB `memory_limit` (e.g. `256MB`); spills to disk beyond it. Default: DuckDB's."
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB worker threads. Default: one per CPU.")
    cursor_secret: SecretStr = Field(
        SecretStr(""),
        description="Signs paging cursors (HMAC-SHA256) when set; share it across instances.",
    )
