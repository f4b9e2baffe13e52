"""The asynchronous twin of :class:`cloudgate.client.Client`, on ``httpx.AsyncClient``.

Token fetches run in a worker thread (google-auth and gcloud block) and are single-flight across tasks.

Example::

    async with AsyncClient("https://svc-abc-uc.a.run.app") as client:
        async for row in client.paginate("/v1/datasets/sales/rows"):
            ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO, Unpack

import anyio
import httpx

from cloudgate.client.download import CHUNK_SIZE, open_target, progress_bar, wants_progress
from cloudgate.client.options import DEFAULT_TIMEOUT_S, ClientKeywords, ClientOptions
from cloudgate.client.paging import next_url, page_items


class AsyncClient:
    """An asynchronous client; same options as :class:`cloudgate.client.Client`."""

    def __init__(
        self,
        base_url: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[ClientKeywords],
    ) -> None:
        self.options = ClientOptions(base_url=base_url, **options)
        self.tokens = self.options.tokens
        self.http = httpx.AsyncClient(
            base_url=base_url, auth=self.options.auth, timeout=timeout, headers=headers, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request; retried and checked as :meth:`Client.request` is."""
        return await self._send(method, url, stream=False, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def paginate(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        items_key: str | None = None,
        cursor_param: str = "cursor",
    ) -> AsyncIterator[Any]:
        """Every item of every page (see :meth:`Client.paginate`)."""
        next_page: str | None = url
        while next_page is not None:
            response = await self.request("GET", next_page, params=params)
            body = response.json()
            for item in page_items(body, items_key):
                yield item
            next_page, params = next_url(response, body, cursor_param=cursor_param), None

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A response whose body is read as it arrives."""
        response = await self._send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()

    async def iter_bytes(self, url: str, **kwargs: Any) -> AsyncIterator[bytes]:
        """The body of ``GET url`` in chunks, in constant memory."""
        async with self.stream("GET", url, **kwargs) as response:
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                yield chunk

    async def download(
        self, url: str, target: Path | str | BinaryIO, *, progress: bool | None = None, **kwargs: Any
    ) -> int:
        """Stream ``GET url`` into ``target``; returns the bytes written (writes are small and local)."""
        written = 0
        async with self.stream("GET", url, **kwargs) as response:
            with (
                open_target(target) as sink,
                progress_bar(response, enabled=wants_progress(progress), label=str(target)) as bar,
            ):
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    sink.write(chunk)
                    written += len(chunk)
                    bar.advance(len(chunk))
        return written

    async def _send(self, method: str, url: str, *, stream: bool, **kwargs: Any) -> httpx.Response:
        retry, attempt = self.options.retry, 0
        while True:
            attempt += 1
            request = self.http.build_request(method, url, **kwargs)
            try:
                response = await self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not retry.should_retry_error(method, exc, attempt):
                    raise self.options.network_error(method, request.url, exc) from exc
                await anyio.sleep(retry.wait(attempt))
                continue
            if retry.should_retry_status(method, response.status_code, attempt):
                await response.aclose()
                await anyio.sleep(retry.wait(attempt, response))
                continue
            if response.is_error and self.options.raise_for_status:
                await response.aread()
                await response.aclose()
                raise self.options.error_for(response)
            return response
