"""``cloudgate audit --format sarif``: SARIF 2.1.0, so a CI job can upload the audit to code scanning.

One rule per check of ``checks.CHECKS`` (its code, summary, remedy and severity as the default level), one result
per finding, located at the service (``projects/P/locations/R/services/S``, as a logical location and as the
artifact URI that code scanning needs). Spec: docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from cloudgate.deploy.checks import CHECKS
from cloudgate.deploy.findings import Finding, Severity, Target

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
#: code scanning ranks security alerts by this rule property (0-10).
_SECURITY_SEVERITY = {Severity.SERIOUS: "8.0", Severity.WARNING: "5.0", Severity.INFO: "1.0"}


def sarif_log(audited: Sequence[tuple[Target, Sequence[Finding]]], version: str) -> dict[str, Any]:
    """The SARIF log of one audit run over ``audited`` services, by cloudgate ``version``."""
    index = {check.code: position for position, check in enumerate(CHECKS)}
    results = [_result(target, finding, index[finding.code]) for target, findings in audited for finding in findings]
    driver = {
        "name": "cloudgate audit",
        "version": version,
        "informationUri": "https://pypi.org/project/cloudgate/",
        "rules": [_rule(check.code, check.severity, check.summary, check.remedy) for check in CHECKS],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def resource_name(target: Target) -> str:
    return f"projects/{target.project}/locations/{target.region}/services/{target.service}"


def _rule(code: str, severity: Severity, summary: str, remedy: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": summary},
        "help": {"text": remedy},
        "defaultConfiguration": {"level": severity.sarif_level},
        "properties": {"tags": ["security", "cloud-run"], "security-severity": _SECURITY_SEVERITY[severity]},
    }


def _result(target: Target, finding: Finding, rule_index: int) -> dict[str, Any]:
    name = resource_name(target)
    text = finding.message + (f"\nfix: {finding.fix}" if finding.fix else "")
    fingerprint = hashlib.sha256(f"{name}\0{finding.code}\0{finding.message}".encode()).hexdigest()
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": finding.severity.sarif_level,
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": name}},
                "logicalLocations": [{"name": target.service, "fullyQualifiedName": name, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"cloudgateFinding/v1": fingerprint},
    }
