"""The sync and async clients against a real uvicorn: headers, retries, paging, downloads and error hints."""

from __future__ import annotations

import io
import time
from pathlib import Path

import jwt
import pytest

from cloudgate.client import AsyncClient, Client, RetryPolicy, TokenProvider
from cloudgate.errors import RequestError
from tests.support import free_port

from .conftest import LocalTokens
from .local_service import LocalService

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)


def _client(service: LocalService, signer: LocalTokens, **options: object) -> Client:
    options.setdefault("retry", FAST)
    return Client(service.url, tokens=TokenProvider(sources=[signer]), **options)  # type: ignore[arg-type]


def test_the_id_token_goes_in_x_serverless_authorization_and_basic_stays(
    service: LocalService, signer: LocalTokens
) -> None:
    with _client(service, signer, api_key="ck_test") as client:
        client.get("/echo", headers={"Authorization": "Basic dTpw"})
    seen = service.state.seen[0]
    assert seen["x-serverless-authorization"] == f"Bearer {signer.minted[0]}"
    assert seen["authorization"] == "Basic dTpw"
    assert seen["x-api-key"] == "ck_test"


def test_the_default_audience_is_the_service_origin_and_can_be_overridden(
    service: LocalService, signer: LocalTokens
) -> None:
    with _client(service, signer) as client:
        client.get("/echo")
    with _client(service, signer, audience="https://svc.a.run.app") as client:
        client.get("/echo")
    assert signer.audiences == [service.url, "https://svc.a.run.app"]


def test_the_token_header_is_configurable(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer, auth_header="Authorization") as client:
        client.get("/echo")
    assert service.state.seen[0]["authorization"].startswith("Bearer ")


def test_many_calls_share_one_token(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer) as client:
        for _ in range(25):
            client.get("/echo")
    assert len(signer.minted) == 1 and service.state.calls == 25


def test_idempotent_requests_are_retried_on_503(service: LocalService, signer: LocalTokens) -> None:
    service.state.fail_next = [503, 502]
    with _client(service, signer) as client:
        assert client.get("/echo").status_code == 200
    assert service.state.calls == 3


def test_posts_are_not_retried(service: LocalService, signer: LocalTokens) -> None:
    service.state.fail_next = [503]
    with _client(service, signer) as client, pytest.raises(RequestError, match="HTTP 503"):
        client.post("/echo", json={"a": 1})
    assert service.state.calls == 1


def test_retries_give_up_after_the_last_attempt(service: LocalService, signer: LocalTokens) -> None:
    service.state.fail_next = [503, 503, 503, 503]
    with _client(service, signer) as client, pytest.raises(RequestError, match="unavailable after several tries"):
        client.get("/echo")
    assert service.state.calls == 3


def test_retry_after_is_honoured(service: LocalService, signer: LocalTokens) -> None:
    service.state.fail_next, service.state.retry_after = [429], "1"
    started = time.monotonic()
    with _client(service, signer) as client:
        client.get("/echo")
    assert time.monotonic() - started >= 1.0


def test_a_stale_token_refused_with_401_is_replaced_once(service: LocalService) -> None:
    signer = LocalTokens(age=600)
    first = signer.fetch("warm-up")
    signer.minted.clear()
    provider = TokenProvider(sources=[signer])
    with Client(service.url, tokens=provider) as client:
        service.state.refuse_token = None
        client.get("/echo")
        service.state.refuse_token = signer.minted[0].rsplit(".", 1)[1]
        assert client.get("/echo").status_code == 200
    assert len(signer.minted) == 2 and first.value not in signer.minted


def test_a_service_that_is_down_gives_a_clear_error(signer: LocalTokens) -> None:
    down = Client(f"http://127.0.0.1:{free_port()}", tokens=TokenProvider(sources=[signer]), retry=FAST)
    with down, pytest.raises(RequestError, match=r"could not connect to .*/echo \(connection refused\)") as caught:
        down.get("/echo")
    assert "is running" in str(caught.value)


@pytest.mark.parametrize("style", ["link", "cursor"])
def test_paginate_follows_every_page(service: LocalService, signer: LocalTokens, style: str) -> None:
    with _client(service, signer) as client:
        assert list(client.paginate("/pages", params={"style": style})) == list(range(30))


def test_download_streams_to_a_file(service: LocalService, signer: LocalTokens, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with _client(service, signer) as client:
        written = client.download("/blob", target, params={"size": 3_000_001}, progress=False)
    assert written == 3_000_001 == target.stat().st_size
    assert not (tmp_path / "out.bin.part").exists()


def test_download_with_a_progress_bar_to_a_stream(service: LocalService, signer: LocalTokens) -> None:
    sink = io.BytesIO()
    with _client(service, signer) as client:
        assert client.download("/blob", sink, params={"size": 100_000}, progress=True) == 100_000


def test_front_end_403_says_to_grant_the_invoker_role(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer) as client, pytest.raises(RequestError, match=r"roles/run\.invoker") as caught:
        client.get("/refuse/front-403")
    assert "caller@p.iam.gserviceaccount.com" in str(caught.value)


def test_front_end_401_names_the_audience(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer) as client, pytest.raises(RequestError, match="--audience") as caught:
        client.get("/refuse/front-401")
    assert repr(service.url) in str(caught.value)
    assert signer.minted[0] not in str(caught.value)


def test_an_expired_api_key_says_to_create_a_new_one(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer, api_key="ck_old") as client, pytest.raises(RequestError, match="keys create"):
        client.get("/refuse/service")


def test_raise_for_status_can_be_turned_off(service: LocalService, signer: LocalTokens) -> None:
    with _client(service, signer, raise_for_status=False) as client:
        assert client.get("/refuse/front-403").status_code == 403


@pytest.mark.anyio
async def test_async_client_retries_pages_and_downloads(
    service: LocalService, signer: LocalTokens, tmp_path: Path
) -> None:
    service.state.fail_next = [503]
    async with AsyncClient(service.url, tokens=TokenProvider(sources=[signer]), retry=FAST) as client:
        assert (await client.get("/echo")).json()["method"] == "GET"
        rows = [row async for row in client.paginate("/pages", params={"style": "link"})]
        written = await client.download("/blob", tmp_path / "b", params={"size": 700_000}, progress=False)
        chunks = [len(c) async for c in client.iter_bytes("/blob", params={"size": 1000})]
    assert rows == list(range(30)) and written == 700_000 and sum(chunks) == 1000
    assert len(signer.minted) == 1
    assert jwt.decode(signer.minted[0], options={"verify_signature": False})["aud"] == service.url
