"""The running image keeps Cloud Run's container contract (one container, started once for these tests)."""

from __future__ import annotations

import json

import httpx

from tests.container.conftest import Running, podman


def test_answers_health_on_the_port_named_by_PORT(running: Running) -> None:
    response = httpx.get(f"{running.url}/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_refuses_an_unauthenticated_api_call(running: Running) -> None:
    response = httpx.get(f"{running.url}/v1/datasets")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


def test_writes_json_log_lines(running: Running) -> None:
    httpx.get(f"{running.url}/v1/datasets")  # one access line for sure
    lines = [
        line
        for line in podman("logs", running.name).stdout.splitlines() + podman("logs", running.name).stderr.splitlines()
        if line.strip()
    ]
    records = [json.loads(line) for line in lines]  # every line is a JSON object
    assert all("severity" in record and "message" in record for record in records)
    assert any(record.get("httpRequest", {}).get("requestUrl", "").endswith("/v1/datasets") for record in records)


def test_runs_as_a_non_root_user(running: Running) -> None:
    status = podman("exec", running.name, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == ["10001"] * 4


def test_its_code_is_read_only_to_it(running: Running) -> None:
    for target in ("/srv/app/main.py", "/srv/app/__pycache__/probe", "/opt/venv/lib/probe", "/opt/venv/bin/cloudgate"):
        attempt = podman("exec", running.name, "sh", "-c", f"echo x >> {target}", check=False)
        assert attempt.returncode != 0, target


def test_its_code_is_owned_by_root_not_by_the_service_user(built_files: dict[str, tuple[int, int]]) -> None:
    """Even where the filesystem is writable (Cloud Run's is), the service user cannot change its code."""
    code = {path: mode_uid for path, mode_uid in built_files.items() if path.startswith(("/srv/", "/opt/venv/"))}
    assert code
    assert [path for path, (mode, uid) in code.items() if uid != 0 or mode & 0o022] == []
