"""The ASGI layer: body limit, response cap, JSON errors, access log."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from cloudgate.service import KeyCaller, ServiceSettings, protect
from cloudgate.service.keys import open_keystore
from cloudgate.service.logs import CloudLoggingFormatter


def build_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/big")
    async def big(n: int) -> Response:
        return Response(b"x" * n, media_type="application/octet-stream")

    @app.get("/stream")
    async def stream(n: int) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(n):
                yield b"y" * 1000

        return StreamingResponse(chunks())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/v1/whoami")
    async def whoami(caller: KeyCaller) -> dict[str, str]:
        return {"name": caller.name}

    return protect(app, settings)


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(
        keystore=f"sqlite:///{tmp_path / 'k.db'}",
        identity="off",
        max_body_bytes=1000,
        max_response_bytes=5000,
        project_id="proj",
    )


@pytest.fixture
async def client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(settings), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


@pytest.mark.anyio
async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo-size", content=b"a" * 1001)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.anyio
async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"a" * 600

    response = await client.post("/echo-size", content=body())
    assert response.status_code == 413


@pytest.mark.anyio
async def test_body_at_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo-size", content=b"a" * 1000)
    assert response.json() == {"size": 1000}


@pytest.mark.anyio
async def test_non_streamed_response_over_the_cap_becomes_a_clear_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/big", params={"n": 5001})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal"
    assert "paging" in body["detail"] and "streaming" in body["detail"]


@pytest.mark.anyio
async def test_streamed_response_is_not_capped(client: httpx.AsyncClient) -> None:
    response = await client.get("/stream", params={"n": 20})
    assert response.status_code == 200
    assert len(response.content) == 20_000


@pytest.mark.anyio
async def test_unhandled_error_is_json_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "detail": "internal error"}
    assert "passwd" not in response.text


@pytest.mark.anyio
async def test_access_log_is_cloud_logging_json_with_trace_and_principal(
    client: httpx.AsyncClient, settings: ServiceSettings, caplog: pytest.LogCaptureFixture
) -> None:
    _, secret = open_keystore(settings.keystore).create("etl", [])
    with caplog.at_level(logging.INFO, logger="cloudgate.access"):
        await client.get(
            "/v1/whoami?token=abc",
            headers={"X-API-Key": secret, "X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/123;o=1"},
        )
    record = next(r for r in caplog.records if r.name == "cloudgate.access")
    line = json.loads(CloudLoggingFormatter().format(record))  # formatted after the request, as handlers may
    assert line["severity"] == "INFO"
    assert line["principal"] == "key:etl"
    assert line["httpRequest"]["status"] == 200
    assert line["httpRequest"]["requestUrl"] == "/v1/whoami"
    assert line["logging.googleapis.com/trace"] == "projects/proj/traces/0123456789abcdef0123456789abcdef"
    assert secret not in json.dumps(line) and "abc" not in line["httpRequest"]["requestUrl"]


@pytest.mark.anyio
async def test_validation_errors_use_the_common_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/big", params={"n": "lots"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "unprocessable"
    assert body["detail"].startswith("query.n: ")
    assert body["errors"] == [
        {"loc": ["query", "n"], "msg": body["detail"].removeprefix("query.n: "), "type": "int_parsing"}
    ]
    assert "lots" not in response.text


@pytest.mark.anyio
async def test_an_unreadable_key_store_is_a_503_that_names_no_path(tmp_path: Path) -> None:
    broken = tmp_path / "keys.json"
    broken.write_text("{not json")
    app = build_app(ServiceSettings(keystore=f"file://{broken}", identity="off"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/v1/whoami", headers={"X-API-Key": "cgk_0123456789abcdef_" + "s" * 43})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"error": "unavailable", "detail": "the service cannot check API keys right now"}
