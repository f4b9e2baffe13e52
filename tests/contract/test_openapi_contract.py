"""The OpenAPI schema says what the service does: schemathesis runs all its checks over every operation.

The example service (``app/``, wrapped by ``protect``) is called in-process over ASGI, once with a key holding
every dataset scope and once with no credentials (then every operation must refuse with 401/403: nothing ignores
auth). Examples are few and derandomized (a fixed seed), so the run is short and the same every time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from app.main import create_app
from app.settings import DataSettings
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from cloudgate.service import ServiceSettings
from cloudgate.service.keys import open_keystore

_REPO = Path(__file__).resolve().parents[2]
_SCOPES = ["datasets:read", "datasets:write", "datasets:admin"]
_SETTINGS = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, str]:
    """The example service over a small sample, and a key with every dataset scope."""
    root = tmp_path_factory.mktemp("contract")
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, key = open_keystore(keystore).create("contract", _SCOPES, None)
    app = create_app(
        ServiceSettings(keystore=keystore, identity="off"), DataSettings(data_dir=root / "data", sample_rows=500)
    )
    return app, key


@pytest.fixture(scope="module")
def api_schema(service: tuple[FastAPI, str]) -> Any:
    app, _ = service
    config = SchemathesisConfig.from_path(str(_REPO / "schemathesis.toml"))  # what `schemathesis run` reads too
    loaded = schemathesis.openapi.from_dict(app.openapi(), config=config)
    loaded.app = app  # called in-process over ASGI (what ``from_asgi`` sets; the schema URL itself is guarded)
    loaded.config.update(base_url="http://testserver")
    return loaded


def _exercise(api_schema: Any, call: Callable[[schemathesis.Case], None]) -> None:
    """Every operation, with valid (schema-conforming) and invalid data; stops at the first failure.

    (schemathesis' own pytest loader, ``from_fixture``, does not run under pytest 9: one plain loop instead.)
    """
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @_SETTINGS
            def run(case: schemathesis.Case) -> None:
                call(case)

            run()


def test_answers_match_the_schema_with_a_key(api_schema: Any, service: tuple[FastAPI, str]) -> None:
    _, key = service
    _exercise(api_schema, lambda case: case.call_and_validate(headers={"X-API-Key": key}))


def test_every_operation_refuses_without_credentials(api_schema: Any) -> None:
    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate()
        assert response.status_code in (401, 403), (case.method, case.formatted_path, response.status_code)

    _exercise(api_schema, call)


def test_schema_states_the_dataset_rules(api_schema: Any, tmp_path: Path) -> None:
    """The constraints the code enforces with a 400 are in the schema, so generated clients know them."""
    raw = api_schema.raw_schema
    export = raw["paths"]["/v1/datasets/{name}/export"]["get"]
    by_name = {p["name"]: p["schema"] for p in export["parameters"]}
    assert by_name["name"]["pattern"] == r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert by_name["format"]["enum"] == ["ndjson", "csv", "parquet", "arrow"]
