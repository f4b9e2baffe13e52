"""Literal secrets found by their value in every container's env and arguments, never shown; names that only
look like secrets are not flagged."""

from __future__ import annotations

from typing import Any

import pytest

from cloudgate.deploy.audit import Finding, Target, audit_service
from cloudgate.service.keys.store import new_key
from cloudgate.service.passwords import hash_password
from tests.unit.deploy import gcloud_output as out

TARGET = Target(out.SERVICE, out.PROJECT, out.REGION)
# Shaped like the real thing, made up here (none of them was ever valid).
STRIPE = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdEFGH"
OPENAI = "sk-proj-Xq3vN8rT2mK9pL4wZ7yB1cD5T3BlbkFJhG6jF0sA8eR2tY9uI4oP7lKm"
DATABASE_URL = "postgres://app:hunter2@10.0.0.5:5432/app"


def audit_env(*env: tuple[str, str], service: dict[str, Any] | None = None) -> list[Finding]:
    service = service or out.service()
    out.container(service)["env"].extend({"name": name, "value": value} for name, value in env)
    return audit_service(TARGET, service, out.policy(), out.project_policy())


def secret_findings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.code == "literal-secret"]


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("API_KEY", STRIPE, "Stripe Access Key"),
        ("OPENAI_API_KEY", OPENAI, "OpenAI Token"),
        ("DATABASE_URL", DATABASE_URL, "Basic Auth Credentials"),
        ("DB_PASSWORD", "hunter2", "a literal value in a variable named like a secret"),
        ("BLOB", "q8Zr3LkP0vXn2WbTy7HsJd5GmCfA1eUo", "a high-entropy string"),
        ("REDIS_URL", "redis://:hunter2@10.0.0.3:6379/0", "a password in a URL"),
        ("DATABASE_DSN", "host=10.0.0.5 user=app password=hunter2 dbname=app", "a password in a connection string"),
        ("SQL", "Server=db;Database=app;User Id=app;Password=hunter2;", "a password in a connection string"),
        ("PGPASSWORD", "hunter2", "a literal value in a variable named like a secret"),
        ("CONFIG", '{"db": {"password": "hunter2"}}', "a password in a connection string or setting"),
        ("JAVA_OPTS", "-Xmx1g -Dspring.datasource.password=hunter2", "a password in a connection string or setting"),
        ("AUTH_HEADER", "Bearer 3f2a9c1d7e4b5a6f8091a2b3c4d5e6f7", "a bearer token"),
    ],
)
def test_a_literal_secret_is_serious_and_its_value_is_never_shown(name: str, value: str, kind: str) -> None:
    findings = audit_env((name, value))
    [finding] = secret_findings(findings)
    assert finding.serious and kind in finding.message and f"env var {name} of container #1" in finding.message
    assert not any(value in f.line() for f in findings)


def test_a_cloudgate_api_key_is_found() -> None:
    _record, key = new_key("etl", ["datasets:read"], expires_at=None)
    [finding] = secret_findings(audit_env(("UPSTREAM", key)))
    assert "a cloudgate API key" in finding.message


def test_an_argon2_docs_users_line_is_found() -> None:
    [finding] = secret_findings(audit_env(("USERS", f"alice:{hash_password('correct horse')}")))
    assert "an argon2 password hash" in finding.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OAUTH_TOKEN_URL", "https://oauth2.googleapis.com/token"),
        ("PASSWORD_MIN_LENGTH", "12"),
        ("SECRET_NAME", "api-docs-users"),
        ("DATABASE_DSN", "host=10.0.0.5 user=app password=${DB_PASSWORD} dbname=app"),
        ("REDIS_URL", "redis://10.0.0.3:6379/0"),
        ("RESET_LINK", "forgot_password_url=https://example.com/reset"),
        ("ROUTES", "password=/account/password"),
        ("GIT_SHA", "3f2a9c1d7e4b5a6f8091a2b3c4d5e6f708192a3b"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/key/key.json"),
        ("UPSTREAM", "projects/my-project-123456/locations/europe-west1/services/api-gateway-production"),
    ],
)
def test_a_name_or_value_that_only_looks_like_a_secret_is_not_flagged(name: str, value: str) -> None:
    assert secret_findings(audit_env((name, value))) == []


def test_a_sidecar_container_is_checked_too() -> None:
    service = out.service()
    service["spec"]["template"]["spec"]["containers"].append(
        {"name": "proxy", "image": "envoy", "env": [{"name": "UPSTREAM_URL", "value": DATABASE_URL}]}
    )
    [finding] = secret_findings(audit_service(TARGET, service, out.policy(), out.project_policy()))
    assert "container proxy" in finding.message and "--container=proxy" in (finding.fix or "")


@pytest.mark.parametrize("where", ["sidecar", "serving"])
def test_a_fix_names_the_container_only_when_it_is_a_sidecar_wherever_it_stands(where: str) -> None:
    """gcloud changes the container with a port when no --container is given; a sidecar may be listed first."""
    service = out.service()
    boxes = service["spec"]["template"]["spec"]["containers"]
    boxes.insert(0, {"name": "proxy", "image": "envoy", "env": []})
    box = boxes[0] if where == "sidecar" else boxes[1]
    box["env"].append({"name": "UPSTREAM_URL", "value": DATABASE_URL})
    [finding] = secret_findings(audit_service(TARGET, service, out.policy(), out.project_policy()))
    flag = " --container=proxy" if where == "sidecar" else ""
    assert finding.fix == f"gcloud run services update {TARGET.where()}{flag} --remove-env-vars=UPSTREAM_URL"


def test_a_secret_on_the_command_line_is_found() -> None:
    service = out.service()
    out.container(service)["args"] = ["serve", f"--api-key={STRIPE}"]
    [finding] = secret_findings(audit_service(TARGET, service, out.policy(), out.project_policy()))
    assert finding.message.startswith("argument 2 of container #1's command line holds Stripe Access Key")


def test_a_secret_passed_as_env_var_is_a_warning() -> None:
    service = out.service()
    out.container(service)["env"].append(
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "3", "name": "db-password"}}}
    )
    [finding] = [
        f for f in audit_service(TARGET, service, out.policy(), out.project_policy()) if f.code == "secret-env"
    ]
    assert finding.severity == "warning" and "db-password" in finding.message and "DB_PASSWORD" in finding.message


def older_revision(name: str, *env: tuple[str, str]) -> dict[str, Any]:
    """``gcloud run revisions describe NAME --format=json``: a Revision of the service's template, with ``env``."""
    template = out.service()["spec"]["template"]
    spec = template["spec"]
    spec["containers"][0]["env"] = [{"name": key, "value": value} for key, value in env]
    metadata = {**template["metadata"], "name": name, "namespace": "123456789012"}
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Revision", "metadata": metadata, "spec": spec}


def test_an_older_revision_still_serving_a_secret_is_serious_with_a_fix_that_moves_the_traffic() -> None:
    service = out.service()
    service["status"]["traffic"] = [
        {"percent": 90, "revisionName": "api-00002-qoz", "latestRevision": True},
        {"percent": 10, "revisionName": "api-00001-abc"},
        {"revisionName": "api-00001-abc", "tag": "debug", "url": "https://debug---api-123456789012.a.run.app"},
    ]
    revision = older_revision("api-00001-abc", ("API_KEY", STRIPE))
    findings = audit_service(TARGET, service, out.policy(), out.project_policy(), [revision])
    [finding] = [f for f in findings if f.code == "older-revision-secret"]
    assert finding.serious and finding.message.startswith(
        "env var API_KEY of container #1 of revision api-00001-abc (serves 10% of the traffic, tag debug) holds"
    )
    assert finding.fix == f"gcloud run services update-traffic {TARGET.where()} --to-latest --remove-tags=debug"
    assert not any(STRIPE in f.line() for f in findings) and secret_findings(findings) == []


def test_an_older_revision_that_no_traffic_reaches_is_not_read() -> None:
    revision = older_revision("api-00001-abc", ("API_KEY", STRIPE))
    findings = audit_service(TARGET, out.service(), out.policy(), out.project_policy(), [revision])
    assert [f for f in findings if f.code == "older-revision-secret"] == []
