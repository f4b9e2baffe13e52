"""What the sync and async clients share: the token provider, the auth flow, the retry policy, error handling."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import httpx

from cloudgate.client.auth import DEFAULT_API_KEY_HEADER, IdTokenAuth
from cloudgate.client.provider import TokenProvider
from cloudgate.client.responses import request_error, transport_error
from cloudgate.client.retries import RetryPolicy
from cloudgate.errors import RequestError
from cloudgate.google import SERVERLESS_AUTH_HEADER

#: Cloud Run's default request timeout; a call should not give up before the service does.
DEFAULT_TIMEOUT_S = 300.0


class ClientKeywords(TypedDict, total=False):
    """The keyword arguments both clients take (typed, so editors and mypy check the names callers use)."""

    audience: str | None
    api_key: str | None
    credentials: Path | str | None
    impersonate: str | None
    tokens: TokenProvider | None
    auth_header: str
    api_key_header: str
    retry: RetryPolicy | None
    raise_for_status: bool


class ClientOptions:
    """Configuration of a client to a private Cloud Run service (see :class:`cloudgate.client.Client`)."""

    def __init__(
        self,
        *,
        base_url: str = "",
        audience: str | None = None,
        api_key: str | None = None,
        credentials: Path | str | None = None,
        impersonate: str | None = None,
        tokens: TokenProvider | None = None,
        auth_header: str = SERVERLESS_AUTH_HEADER,
        api_key_header: str = DEFAULT_API_KEY_HEADER,
        retry: RetryPolicy | None = None,
        raise_for_status: bool = True,
    ) -> None:
        self.tokens = tokens or TokenProvider(credentials, impersonate=impersonate)
        # Credentials only for the base URL's origin (or, without one, the first request's): see ``auth``.
        self.auth = IdTokenAuth(
            self.tokens,
            audience=audience,
            api_key=api_key,
            header=auth_header,
            api_key_header=api_key_header,
            origin=base_url or None,
        )
        self.retry = retry or RetryPolicy()
        self.raise_for_status = raise_for_status

    def error_for(self, response: httpx.Response) -> RequestError:
        """The error to raise for a failed ``response`` (read first if streamed)."""
        return request_error(response, audience=self.auth.last_audience, token=self.auth.last_token)

    @staticmethod
    def network_error(method: str, url: httpx.URL, exc: httpx.TransportError) -> RequestError:
        """The error for a request that got no response (connection refused, TLS, DNS, timeouts)."""
        return transport_error(method, url, exc)
