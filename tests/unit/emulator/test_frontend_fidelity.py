"""What Google's front end does besides the IAM check: reserved paths, TRACE, its response headers, no IAM check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from tests.support import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def front(ctx: EmulatorContext) -> AsyncIterator[httpx.AsyncClient]:
    """A public service with no running revision: a request past the front end's own checks ends in 503."""
    url = f"http://127.0.0.1:{free_port()}"
    iam.ensure_service(ctx.store, "svc", url=url)
    iam.grant_service_role(ctx.store, "svc", "roles/run.invoker", "allUsers")
    frontend = CloudRunFrontend(ctx, "svc")
    try:
        transport = httpx.ASGITransport(app=frontend)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=url) as client:
            yield client
    finally:
        await frontend.aclose()


@pytest.mark.parametrize("path", ["/eventlog", "/_ah/health", "/healthz", "/api/statusz", "/readyz/"])
async def test_reserved_paths_are_answered_by_the_front_end(
    ctx: EmulatorContext, front: httpx.AsyncClient, path: str
) -> None:
    response = await front.get(path)
    assert response.status_code == 404
    assert ctx.counters.get("frontend_refused", "reserved_path") == 1


async def test_trace_is_not_delivered(ctx: EmulatorContext, front: httpx.AsyncClient) -> None:
    assert (await front.request("TRACE", "/anything")).status_code == 405
    assert ctx.counters.get("frontend_refused", "trace_method") == 1


async def test_responses_carry_googles_front_end_headers(front: httpx.AsyncClient) -> None:
    """Refusals and forwarded answers alike; an incoming trace id is echoed."""
    trace = "0af7651916cd43dd8448eb211c80319c"
    for path in ("/healthz", "/forwarded"):
        response = await front.get(path, headers={"X-Cloud-Trace-Context": f"{trace}/1;o=1"})
        assert response.headers["server"] == "Google Frontend"
        assert response.headers["x-cloud-trace-context"] == f"{trace};o=1"


async def test_no_invoker_iam_check_forwards_without_a_token(ctx: EmulatorContext, front: httpx.AsyncClient) -> None:
    with ctx.store.edit() as state:
        service = state.services["svc"]
        service.bindings.clear()
        service.invoker_iam_check = False
    assert (await front.get("/x")).status_code == 503  # past the check: no revision to send it to
    assert ctx.counters.get("frontend_refused", "no_revision") == 1
    with ctx.store.edit() as state:
        state.services["svc"].invoker_iam_check = True
    assert (await front.get("/x")).status_code == 403
