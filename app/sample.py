"""The sample dataset: generated deterministically by DuckDB SQL on first start, so a fresh service has data.

Columns: ``id`` (1..n), ``ts`` (every 30 s from 2024-01-01), ``category`` (five names), ``quantity`` (0-999),
``amount`` (0.00-9999.99), ``note`` (short text). The same ``rows`` always gives the same bytes of data: values
come from integer arithmetic on the row number, not from a random generator or a hash whose seed may change.

Example::

    ensure_sample(catalog, "sample", 1_000_000)  # ~0.3 s; does nothing if the dataset exists
"""

from __future__ import annotations

import logging
import time
import uuid

from app.catalog import Catalog

logger = logging.getLogger(__name__)

# A multiplicative hash of the row number (Knuth's constant), mixed into each column differently.
_SAMPLE_SQL = """
WITH base AS (
    SELECT i, ((i * 2654435761 + 12345) % 4294967296)::BIGINT AS h FROM range(?) AS t(i)
)
SELECT
    i + 1 AS id,
    TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i * 30) AS ts,
    ['alpha', 'beta', 'gamma', 'delta', 'epsilon'][1 + (h % 5)::BIGINT] AS category,
    ((h // 7) % 1000)::INTEGER AS quantity,
    round(((h // 13) % 1000000) / 100.0, 2)::DOUBLE AS amount,
    'item ' || ((h // 3) % 9973)::VARCHAR AS note
FROM base
"""


def ensure_sample(catalog: Catalog, name: str, rows: int) -> bool:
    """Write the sample dataset ``name`` with ``rows`` rows unless a dataset of that name exists; True if written."""
    if rows <= 0 or name in catalog.names():
        return False
    started = time.perf_counter()
    partial = catalog.tmp_dir / f"{name}.{uuid.uuid4().hex}.parquet"
    cursor = catalog.cursor()
    try:
        cursor.sql(_SAMPLE_SQL, params=[rows]).write_parquet(str(partial), compression="zstd")
        catalog.install(name, partial)
    finally:
        cursor.close()
        partial.unlink(missing_ok=True)
    logger.info("sample dataset %s: %d rows written in %.2fs", name, rows, time.perf_counter() - started)
    return True
