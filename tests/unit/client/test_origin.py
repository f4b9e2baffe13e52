"""Credentials stay on the service's origin: paging refuses links elsewhere, and the auth flow adds nothing there.

The attack: a service (or whoever controls a page's body) answers ``{"rows": [...], "next": "https://evil/x"}``
or a ``Link`` header to another host, hoping the client follows it with the caller's ID token and API key.
Two real uvicorn servers on different ports are two origins; ``other_service`` plays the collecting host.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudgate.client import AsyncClient, Client, IdTokenAuth, RetryPolicy, TokenProvider
from cloudgate.client.paging import next_url
from cloudgate.errors import RequestError

from .conftest import LocalTokens
from .local_service import LocalService

FAST = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02)
CREDENTIAL_HEADERS = ("x-serverless-authorization", "x-api-key")


def _page(url: str, *, body: Any = None, link: str | None = None) -> tuple[httpx.Response, Any]:
    headers = {"Link": f'<{link}>; rel="next"'} if link else {}
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url)), body


def _carried_credentials(service: LocalService) -> list[dict[str, str]]:
    return [{k: v for k, v in seen.items() if k in CREDENTIAL_HEADERS} for seen in service.state.seen]


# -- next_url on its own ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/collect",
        "//evil.example/collect",  # protocol-relative: same scheme, other host
        "http://svc.example/collect",  # another scheme
        "https://svc.example:8443/collect",  # another port
        "https://svc.example.evil.example/collect",
    ],
)
@pytest.mark.parametrize("where", ["body", "link"])
def test_next_url_refuses_another_origin(target: str, where: str) -> None:
    body = {"rows": [1], "next": target} if where == "body" else {"rows": [1]}
    response, body = _page("https://svc.example/v1/rows?limit=1", body=body, link=target if where == "link" else None)
    with pytest.raises(RequestError, match="refusing to follow the next page") as caught:
        next_url(response, body)
    assert "/collect" not in str(caught.value)  # only origins are named, never a link's path or query


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/v1/rows?cursor=2", "https://svc.example/v1/rows?cursor=2"),
        ("https://svc.example/v1/rows?cursor=2", "https://svc.example/v1/rows?cursor=2"),
        ("https://SVC.example:443/v1/rows?cursor=2", "https://svc.example/v1/rows?cursor=2"),  # default port
    ],
)
def test_next_url_follows_the_same_origin(target: str, expected: str) -> None:
    response, body = _page("https://svc.example/v1/rows", body={"rows": [1], "next": target})
    assert next_url(response, body) == expected
    response, body = _page("https://svc.example/v1/rows", body={"rows": [1]}, link=target)
    assert next_url(response, body) == expected


def test_an_opaque_cursor_stays_on_the_page_url() -> None:
    response, body = _page("https://svc.example/v1/rows?limit=5", body={"rows": [1], "next": "evil.example"})
    assert next_url(response, body) == "https://svc.example/v1/rows?limit=5&cursor=evil.example"


# -- the clients against two real origins ----------------------------------------------------------------------


@pytest.mark.parametrize("style", ["body", "link"])
def test_paginate_refuses_a_next_page_on_another_origin(
    service: LocalService, other_service: LocalService, signer: LocalTokens, style: str
) -> None:
    service.state.away = f"{other_service.url}/echo"
    with Client(service.url, tokens=TokenProvider(sources=[signer]), api_key="ck_secret", retry=FAST) as client:
        rows = client.paginate("/away", params={"style": style})
        assert next(rows) == 1
        with pytest.raises(RequestError, match=f"refusing to follow the next page to {other_service.url}"):
            next(rows)
    assert other_service.state.calls == 0
    assert _carried_credentials(service)[0]["x-api-key"] == "ck_secret"  # the service itself got them


@pytest.mark.anyio
@pytest.mark.parametrize("style", ["body", "link"])
async def test_async_paginate_refuses_a_next_page_on_another_origin(
    service: LocalService, other_service: LocalService, signer: LocalTokens, style: str
) -> None:
    service.state.away = f"{other_service.url}/echo"
    tokens = TokenProvider(sources=[signer])
    async with AsyncClient(service.url, tokens=tokens, api_key="ck_secret", retry=FAST) as client:
        rows = []
        with pytest.raises(RequestError, match="refusing to follow the next page"):
            async for row in client.paginate("/away", params={"style": style}):
                rows.append(row)
    assert rows == [1]
    assert other_service.state.calls == 0


def test_same_origin_paging_keeps_its_credentials(service: LocalService, signer: LocalTokens) -> None:
    """An absolute same-origin next link (as the dataset API sends) is followed, credentials and all."""
    service.state.away = f"{service.url}/echo"
    with Client(service.url, tokens=TokenProvider(sources=[signer]), api_key="ck_secret", retry=FAST) as client:
        assert list(client.paginate("/pages", params={"style": "link"})) == list(range(30))
        rows = client.paginate("/away")
        assert next(rows) == 1
        with pytest.raises(RequestError, match="no list of items"):  # /echo is no page, but it was reached
            next(rows)
    assert _carried_credentials(service)[-1] == {
        "x-serverless-authorization": f"Bearer {signer.minted[0]}",
        "x-api-key": "ck_secret",
    }


@pytest.mark.parametrize("audience", [None, "https://svc.a.run.app"])
def test_requests_to_another_origin_carry_no_credentials(
    service: LocalService, other_service: LocalService, signer: LocalTokens, audience: str | None
) -> None:
    """Defence in depth: even an absolute URL passed by hand gets neither the token nor the key."""
    tokens = TokenProvider(sources=[signer])
    with Client(service.url, tokens=tokens, api_key="ck_secret", audience=audience, retry=FAST) as client:
        client.get(f"{other_service.url}/echo")
        client.get("/echo")
    assert _carried_credentials(other_service) == [{}]
    assert _carried_credentials(service)[0]["x-api-key"] == "ck_secret"
    assert signer.audiences == [audience or service.url]  # no token was even minted for the other origin


def test_without_a_base_url_the_first_request_pins_the_origin(
    service: LocalService, other_service: LocalService, signer: LocalTokens
) -> None:
    with Client(tokens=TokenProvider(sources=[signer]), api_key="ck_secret", retry=FAST) as client:
        client.get(f"{service.url}/echo")
        client.get(f"{other_service.url}/echo")
        client.get(f"{service.url}/echo")
    assert [seen["x-api-key"] for seen in _carried_credentials(service)] == ["ck_secret", "ck_secret"]
    assert _carried_credentials(other_service) == [{}]


@pytest.mark.anyio
async def test_async_requests_to_another_origin_carry_no_credentials(
    service: LocalService, other_service: LocalService, signer: LocalTokens
) -> None:
    tokens = TokenProvider(sources=[signer])
    async with AsyncClient(service.url, tokens=tokens, api_key="ck_secret", retry=FAST) as client:
        await client.get(f"{other_service.url}/echo")
        await client.get("/echo")
    assert _carried_credentials(other_service) == [{}]
    assert _carried_credentials(service)[0]["x-api-key"] == "ck_secret"


def test_a_redirect_to_another_origin_is_not_followed(
    service: LocalService, other_service: LocalService, signer: LocalTokens
) -> None:
    """httpx would copy our headers into a redirect (it drops only ``Authorization``), so the client never follows."""
    service.state.away = f"{other_service.url}/echo"
    with Client(service.url, tokens=TokenProvider(sources=[signer]), api_key="ck_secret", retry=FAST) as client:
        response = client.get("/redirect")
    assert response.status_code == 302 and response.headers["location"] == service.state.away
    assert other_service.state.calls == 0


def test_a_standalone_auth_pins_its_origin(
    service: LocalService, other_service: LocalService, signer: LocalTokens
) -> None:
    auth = IdTokenAuth(TokenProvider(sources=[signer]), api_key="ck_secret", origin=f"{service.url}/any/path")
    with httpx.Client(auth=auth) as http:
        http.get(f"{other_service.url}/echo", headers={"X-API-Key": "ck_theirs"})  # the caller's own header stays
        http.get(f"{service.url}/echo")
    assert _carried_credentials(other_service) == [{"x-api-key": "ck_theirs"}]
    assert _carried_credentials(service)[0]["x-api-key"] == "ck_secret"
    assert auth.origin == service.url
