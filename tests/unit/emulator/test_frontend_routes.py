"""The front end of a service deployed through the admin API: nothing to send to yet, a removed tag, a deleted
service (the split itself is measured end to end in ``tests/e2e/test_emulator_traffic.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.emulator.serving.frontend import CloudRunFrontend

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9"


async def _client(frontend: CloudRunFrontend) -> AsyncIterator[httpx.AsyncClient]:
    try:
        transport = httpx.ASGITransport(app=frontend)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
            yield client
    finally:
        await frontend.aclose()


@pytest.fixture
def public(ctx: EmulatorContext) -> str:
    """A public service ``svc`` whose traffic tags ``canary``; returns the tag's URL."""
    tag_url = "http://127.0.0.1:10"
    iam.ensure_service(ctx.store, "svc", url=URL)
    iam.grant_service_role(ctx.store, "svc", "roles/run.invoker", "allUsers")
    with ctx.store.edit() as state:
        state.services["svc"].tag_urls["canary"] = tag_url
        state.services["svc"].status["traffic"] = [{"revisionName": "svc-a", "percent": 0, "tag": "canary"}]
    return tag_url


@pytest.fixture
async def service_url(ctx: EmulatorContext, public: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(CloudRunFrontend(ctx, "svc")):
        yield client


@pytest.fixture
async def tag_url(ctx: EmulatorContext, public: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(CloudRunFrontend(ctx, "svc", tag="canary")):
        yield client


async def test_a_service_without_a_running_revision_answers_503(
    ctx: EmulatorContext, service_url: httpx.AsyncClient
) -> None:
    assert (await service_url.get("/x")).status_code == 503
    assert ctx.counters.get("frontend_refused", "no_revision") == 1


async def test_a_deleted_service_answers_404(ctx: EmulatorContext, service_url: httpx.AsyncClient) -> None:
    with ctx.store.edit() as state:
        del state.services["svc"]
    assert (await service_url.get("/x")).status_code == 404
    assert ctx.counters.get("frontend_refused", "no_service") == 1


async def test_a_tag_url_answers_while_the_tag_is_routed(ctx: EmulatorContext, tag_url: httpx.AsyncClient) -> None:
    assert (await tag_url.get("/x")).status_code == 503  # routed, its revision not running here
    with ctx.store.edit() as state:
        state.services["svc"].status["traffic"] = [{"revisionName": "svc-a", "percent": 100}]
    assert (await tag_url.get("/x")).status_code == 404
