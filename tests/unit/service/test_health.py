"""The unauthenticated health route: at ``/health`` (Cloud Run never delivers paths ending in ``z``), outside the schema."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from cloudgate.service import ServiceSettings, protect


def _protected(tmp_path: Path) -> FastAPI:
    return protect(FastAPI(title="t"), ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}"))


@pytest.mark.anyio
async def test_health_answers_without_credentials(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=_protected(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_health_is_not_in_the_schema(tmp_path: Path) -> None:
    assert "/health" not in _protected(tmp_path).openapi().get("paths", {})


def test_no_route_ends_in_z(tmp_path: Path) -> None:
    """Cloud Run's front end answers paths ending in ``z`` itself (``/healthz`` is 404 on ``*.run.app``)."""
    paths = [route.path for route in _protected(tmp_path).routes if isinstance(route, APIRoute)]
    assert "/health" in paths
    assert [path for path in paths if path.rstrip("/").endswith("z")] == []
