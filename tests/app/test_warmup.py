"""The service starts without its data stack: DuckDB, Arrow and the sample come with the first request for data
(``app.warmup``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from tests.app.conftest import SAMPLE_ROWS, AppFactory

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_app_imports_neither_duckdb_nor_arrow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from app.main import create_app\n"
        "create_app()\n"
        "print(sorted({'duckdb', 'pyarrow', 'numpy'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


async def test_the_first_request_for_data_waits_for_the_sample(
    app: FastAPI, client: httpx.AsyncClient, data_dir: Path
) -> None:
    assert not (data_dir / "sample.parquet").exists()  # the lifespan start-up did not write it
    response = await client.get("/v1/datasets/sample")
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == SAMPLE_ROWS


async def test_an_answer_that_needs_no_data_leaves_the_data_stack_unloaded(
    app: FastAPI, client: httpx.AsyncClient, data_dir: Path
) -> None:
    assert (await client.get("/v1/whoami")).status_code == 200
    with anyio.fail_after(120):
        await app.state.warmup.close()  # waits for the data start-up if anything began it
    assert not (data_dir / "sample.parquet").exists()


async def test_a_failed_warm_up_is_logged_and_data_routes_still_answer(
    make_app: AppFactory, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(sample_name="not a dataset name")  # the sample cannot be installed under this name
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-API-Key": keys["reader"]}
        ) as client,
    ):
        with caplog.at_level(logging.ERROR, logger="app.warmup"):
            response = await client.get("/v1/datasets")
        assert response.status_code == 200
        assert response.json() == {"datasets": []}
        assert "the data folder could not be prepared" in caplog.text
