"""The OpenAPI schema says what the service does: schemathesis runs all its checks over every operation.

The example service (``app/``, wrapped by ``protect``) is called in-process over ASGI, once with a key holding
every dataset scope and once with no credentials (then every operation must refuse with 401/403: nothing ignores
auth). Examples are few and derandomized (a fixed seed), so the run is short and the same every time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from app.main import create_app
from app.settings import DataSettings
from fastapi import FastAPI

from cloudgate.service import ServiceSettings
from cloudgate.service.keys import open_keystore

if TYPE_CHECKING:
    import schemathesis

# schemathesis and hypothesis are imported by the tests that use them, not at collection: every pytest-xdist worker
# collects every module, and their pytest plugins are off (pyproject.toml), so only the worker that runs this module
# loads them (about 0.4 s of CPU each).
_REPO = Path(__file__).resolve().parents[2]
_SCOPES = ["datasets:read", "datasets:write", "datasets:admin"]


@pytest.fixture
def service(tmp_path: Path) -> tuple[FastAPI, str]:
    """The example service over a small sample, and a key with every dataset scope.

    One per test: schemathesis' pytest plugin ends the app's lifespan (started on its first request) with each test.
    """
    root = tmp_path
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, key = open_keystore(keystore).create("contract", _SCOPES, None)
    app = create_app(
        ServiceSettings(keystore=keystore, identity="off"), DataSettings(data_dir=root / "data", sample_rows=500)
    )
    return app, key


@pytest.fixture
def api_schema(service: tuple[FastAPI, str]) -> Any:
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    app, _ = service
    config = SchemathesisConfig.from_path(str(_REPO / "schemathesis.toml"))  # what `schemathesis run` reads too
    config.cache.enabled = False  # no replay of earlier runs' failures: each run is the same
    loaded = schemathesis.openapi.from_dict(app.openapi(), config=config)
    loaded.app = app  # called in-process over ASGI (what ``from_asgi`` sets; the schema URL itself is guarded)
    loaded.config.update(base_url="http://testserver")
    return loaded


def _exercise(api_schema: Any, call: Callable[[schemathesis.Case], None]) -> None:
    """Every operation through schemathesis' phases (explicit examples, coverage of each constraint's edges and of
    unsupported methods, fuzzing with valid and invalid data); stops at the first failure.

    This is what ``schema.parametrize()`` builds for each operation: its lazy form (``from_fixture``) does not run
    under pytest 9, so the same builder is called here directly.
    """
    from hypothesis import HealthCheck, settings
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    few = settings(
        max_examples=10, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    for result in api_schema.get_all_operations():
        operation = result.ok()
        test = build_operation_test(
            config=api_schema.config,
            operation=operation,
            test_func=call,
            given_kwargs={},
            feedback=FeedbackSources(),
            explicit_settings=few,
        )
        test()


def test_answers_match_the_schema_with_a_key(api_schema: Any, service: tuple[FastAPI, str]) -> None:
    _, key = service

    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"X-API-Key": key})

    _exercise(api_schema, call)


def test_every_operation_refuses_without_credentials(api_schema: Any) -> None:
    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate()
        # A method the path does not take is refused before auth (405), and says nothing about the data.
        expected = (401, 403) if case.method.upper() == case.operation.method.upper() else (405,)
        assert response.status_code in expected, (case.method, case.formatted_path, response.status_code)

    _exercise(api_schema, call)


def test_schema_states_the_dataset_rules(api_schema: Any) -> None:
    """The constraints the code enforces with a 400 are in the schema, so generated clients know them."""
    raw = api_schema.raw_schema
    export = raw["paths"]["/v1/datasets/{name}/export"]["get"]
    by_name = {p["name"]: p["schema"] for p in export["parameters"]}
    assert by_name["name"]["pattern"] == r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert by_name["format"]["enum"] == ["ndjson", "csv", "parquet", "arrow"]
