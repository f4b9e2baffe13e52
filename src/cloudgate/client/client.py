"""The client for a private Cloud Run service: httpx with ID tokens, API keys, retries, paging and downloads.

Example::

    from cloudgate.client import Client

    with Client("https://svc-abc-uc.a.run.app", api_key=os.environ["CLOUDGATE_API_KEY"]) as client:
        me = client.get("/v1/whoami").json()
        for row in client.paginate("/v1/datasets/sales/rows", params={"limit": 500}):
            ...
        client.download("/v1/datasets/sales/export", "sales.parquet", params={"format": "parquet"})
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Unpack

import httpx

from cloudgate.client.download import CHUNK_SIZE, open_target, progress_bar, wants_progress
from cloudgate.client.options import DEFAULT_TIMEOUT_S, ClientKeywords, ClientOptions
from cloudgate.client.paging import next_url, page_items


class Client:
    """A synchronous client; keyword arguments are those of :class:`ClientOptions`, plus httpx's ``timeout``,
    ``headers`` and ``transport``. The audience defaults to the origin of each request URL.

    The ID token and API key go only to the origin of ``base_url`` (without one, of the first request); requests
    to other origins go without them, and ``paginate`` refuses a next page on another origin."""

    def __init__(
        self,
        base_url: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientKeywords],
    ) -> None:
        self.options = ClientOptions(base_url=base_url, **options)
        self.tokens = self.options.tokens
        self.http = httpx.Client(
            base_url=base_url, auth=self.options.auth, timeout=timeout, headers=headers, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request (httpx's keyword arguments); retried as :class:`RetryPolicy` allows.

        Raises :class:`~cloudgate.errors.RequestError` for a non-2xx answer unless ``raise_for_status=False``.
        """
        return self._send(method, url, stream=False, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def paginate(
        self,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        items_key: str | None = None,
        cursor_param: str = "cursor",
    ) -> Iterator[Any]:
        """Every item of every page, following ``Link: rel=next`` or ``next`` in the body (see ``paging``)."""
        next_page: str | None = url
        while next_page is not None:
            response = self.request("GET", next_page, params=params)
            body = response.json()
            yield from page_items(body, items_key)
            next_page, params = next_url(response, body, cursor_param=cursor_param), None

    @contextlib.contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives; retries happen before any of it is read."""
        response = self._send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def iter_bytes(self, url: str, **kwargs: Any) -> Iterator[bytes]:
        """The body of ``GET url`` in chunks, in constant memory."""
        with self.stream("GET", url, **kwargs) as response:
            yield from response.iter_bytes(CHUNK_SIZE)

    def download(self, url: str, target: Path | str | BinaryIO, *, progress: bool | None = None, **kwargs: Any) -> int:
        """Stream ``GET url`` into ``target`` (a path or a binary stream); returns the bytes written."""
        written = 0
        with (
            self.stream("GET", url, **kwargs) as response,
            open_target(target) as sink,
            progress_bar(response, enabled=wants_progress(progress), label=str(target)) as bar,
        ):
            for chunk in response.iter_bytes(CHUNK_SIZE):
                sink.write(chunk)
                written += len(chunk)
                bar.advance(len(chunk))
        return written

    def _send(self, method: str, url: str, *, stream: bool, **kwargs: Any) -> httpx.Response:
        retry, attempt = self.options.retry, 0
        while True:
            attempt += 1
            request = self.http.build_request(method, url, **kwargs)
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not retry.should_retry_error(method, exc, attempt):
                    raise self.options.network_error(method, request.url, exc) from exc
                time.sleep(retry.wait(attempt))
                continue
            if retry.should_retry_status(method, response.status_code, attempt):
                response.close()
                time.sleep(retry.wait(attempt, response))
                continue
            if response.is_error and self.options.raise_for_status:
                response.read()
                response.close()
                raise self.options.error_for(response)
            return response
