"""Secrets in logs, errors and responses: a dedicated ``cloudgate serve`` process is attacked with every kind of
secret in every place a careless caller might put one, then its whole output is grepped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudgate.google import SIGNATURE_REMOVED
from tests.e2e.service_env import AUDIENCE
from tests.security.conftest import DOCS_PASSWORD, DOCS_USER, Secrets, Served, basic, claims, unsigned_jwt

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def logged(secrets: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with secrets.served_app(tmp_path_factory.mktemp("logs-data"), CLOUDGATE_AUDIENCES=AUDIENCE) as served:
        yield served


def _lines(output: str) -> list[dict[str, object]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_secrets_sent_in_headers_and_bodies_never_reach_logs_or_answers(logged: Served, secrets: Secrets) -> None:
    """Attack: send keys (good, revoked, malformed), the docs password (right and wrong), ID tokens and a key inside
    a filter value, upload body and error-provoking requests. Secure: no secret in any answer body or log line."""
    key = secrets.keys["all"]
    token = unsigned_jwt(claims(), signature=SIGNATURE_REMOVED)
    signed = unsigned_jwt(claims(), signature="c2lnbmF0dXJl")
    answers: list[str] = []
    with httpx.Client(base_url=logged.url, headers={"X-Forwarded-For": "203.0.113.50"}) as client:
        requests = [
            client.get("/v1/whoami", headers={"X-API-Key": key, "X-Serverless-Authorization": f"Bearer {token}"}),
            client.get("/v1/whoami", headers={"X-API-Key": secrets.keys["revoked"]}),
            client.get("/v1/whoami", headers={"X-API-Key": key + "tampered"}),
            client.get("/v1/whoami", headers={"X-API-Key": key, "Authorization": f"Bearer {signed}"}),
            client.get("/docs", headers={"Authorization": basic(DOCS_USER, DOCS_PASSWORD)}),
            client.get("/docs", headers={"Authorization": basic(DOCS_USER, DOCS_PASSWORD + "x")}),
            client.get("/v1/datasets/sample/rows", params={"filter": f"note:eq:{key}"}, headers={"X-API-Key": key}),
            client.get("/v1/datasets/sample/rows", params={"api_key": key}, headers={"X-API-Key": key}),
            client.get("/v1/datasets/sample/rows", params={"limit": key}, headers={"X-API-Key": key}),
            client.post(
                "/v1/datasets/leaky",
                content=f"a,b\n{key},{DOCS_PASSWORD}\n".encode(),
                headers={"X-API-Key": key, "Content-Type": "text/csv"},
            ),
            client.post("/v1/datasets/bad", content=key.encode() + b"\x00\xff", headers={"X-API-Key": key}),
        ]
        answers = [r.text for r in requests]
    # Every answer the service made for a *bad* credential must not echo it; FastAPI's 422 echoes query input,
    # which the caller sent themselves (not a leak to a third party), so only our own error bodies are checked.
    for text in answers[1:4]:
        assert key not in text
        assert secrets.keys["revoked"] not in text
    assert DOCS_PASSWORD not in answers[5]
    output = logged.output
    assert output, "the service logged nothing"
    for secret in [*secrets.all(), token, signed]:
        assert secret not in output
    assert len(_lines(output)) >= len(answers)


def test_a_key_in_the_path_or_user_agent_is_masked_in_logs(secrets: Secrets, tmp_path: Path) -> None:
    """Attack (careless client): the key pasted into the URL path, User-Agent or Referer. The README promises
    'anything shaped like one is masked' in log lines. Secure: the key appears nowhere in the output."""
    key = secrets.keys["reader"]
    with secrets.served_app(tmp_path / "data", CLOUDGATE_SAMPLE_ROWS="10") as served:
        httpx.get(
            f"{served.url}/v1/datasets/{key}",
            headers={"X-API-Key": key, "User-Agent": f"etl/{key}", "Referer": f"http://x/{key}"},
        )
        token = unsigned_jwt(claims(), signature=SIGNATURE_REMOVED)
        httpx.get(f"{served.url}/v1/whoami/{token}")
    output = served.drain.stop()
    assert key.split("_", 2)[2] not in output
    assert token not in output


def test_error_bodies_are_json_without_internals(logged: Served, secrets: Secrets) -> None:
    """Attack: provoke errors (unknown dataset, bad column, bad filter, bad cursor, wrong method, bad length) and
    look for tracebacks, file paths, SQL or hashes. Secure: JSON {error, detail} without internals."""
    key = {"X-API-Key": secrets.keys["all"]}
    with httpx.Client(base_url=logged.url, headers=key) as client:
        responses = [
            client.get("/v1/datasets/nope"),
            client.get("/v1/datasets/sample/rows", params={"columns": "nope"}),
            client.get("/v1/datasets/sample/rows", params={"filter": "amount:gt:abc"}),
            client.get("/v1/datasets/sample/rows", params={"cursor": "!!!"}),
            client.get("/v1/datasets/sample/export", params={"format": "xml"}),
            client.put("/v1/datasets/sample"),
            client.post("/v1/datasets/broken", content=b"PAR1 not really parquet"),
        ]
    for response in responses:
        assert 400 <= response.status_code < 500, response.status_code
        body = response.json()
        assert set(body) == {"error", "detail"}, body
        text = response.text
        for marker in ("Traceback", "/tmp/", str(Path.cwd()), "SELECT ", "read_parquet", "$argon2", "/proc/self"):
            assert marker not in text, (marker, text)
