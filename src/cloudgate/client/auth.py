"""The httpx auth flow that adds a Google ID token and an API key to the requests for one service.

The ID token goes in ``X-Serverless-Authorization`` by default: Cloud Run's IAM front end checks that header
first, which leaves ``Authorization`` to the app's own scheme (HTTP Basic on the docs). The audience is the
configured one or the origin of the request URL (the service URL). If the service answers 401 with a token
that has been in use for a while, the token is fetched again and the request retried once.

Credentials go to one origin only (scheme, host and port): ``origin`` when given (the clients pass their base
URL), otherwise the origin of the first request. A request to any other origin (a ``next`` link, a redirect,
an absolute URL the caller passed by mistake) goes out without the token and without the API key: a service
that names another host must not be able to collect the caller's identity or key, and with a fixed audience
the token would be one the real service accepts.

Example::

    auth = IdTokenAuth(TokenProvider(), api_key="ck_...")
    httpx.get("https://svc-abc-uc.a.run.app/v1/whoami", auth=auth)
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Generator

import httpx

from cloudgate import codes
from cloudgate.client.provider import TokenProvider
from cloudgate.client.tokens import IdToken
from cloudgate.google import SERVERLESS_AUTH_HEADER

#: The header the service core reads API keys from.
DEFAULT_API_KEY_HEADER = codes.API_KEY_HEADER
#: A 401 on a token younger than this is not the token's age; do not fetch another.
_YOUNG_TOKEN_S = 10.0


def audience_for(url: httpx.URL) -> str:
    """The default audience of a request: its origin, which is how Cloud Run names a service."""
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    port = f":{url.port}" if url.port and url.port != default_port else ""
    return f"{url.scheme}://{url.host}{port}"


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Whether two URLs share scheme, host and port (an omitted default port counts as given)."""
    return audience_for(a) == audience_for(b)


class IdTokenAuth(httpx.Auth):
    """Adds ``<header>: Bearer <ID token>`` and the API key; retries once with a new token on 401.

    Only requests to ``origin`` (a URL; its scheme, host and port count) get credentials. Without ``origin``
    the first request's origin is taken, so one instance serves one service; requests elsewhere go bare.

    Use it with ``follow_redirects=False`` (httpx's default, and what the cloudgate clients and proxy do): httpx
    follows redirects inside one run of the auth flow, copying these headers to the redirect target (it drops
    only ``Authorization`` across origins), so no auth flow can keep them from another origin there.
    """

    def __init__(
        self,
        tokens: TokenProvider,
        *,
        audience: str | None = None,
        api_key: str | None = None,
        header: str = SERVERLESS_AUTH_HEADER,
        api_key_header: str = DEFAULT_API_KEY_HEADER,
        origin: str | None = None,
    ) -> None:
        self.tokens = tokens
        self.audience = audience
        self._api_key = api_key
        self.header = header
        self.api_key_header = api_key_header
        #: The last token used (for error hints: its audience, source and email).
        self.last_token: IdToken | None = None
        self.last_audience: str | None = None
        self._origin = httpx.URL(origin) if origin else None
        self._origin_lock = threading.Lock()

    @property
    def origin(self) -> str | None:
        """The origin credentials go to (``scheme://host[:port]``), or ``None`` until the first request."""
        return audience_for(self._origin) if self._origin is not None else None

    def allows(self, url: httpx.URL) -> bool:
        """Whether a request to ``url`` may carry the credentials; the first call pins the origin if unset."""
        with self._origin_lock:
            if self._origin is None:
                self._origin = url
            return same_origin(self._origin, url)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.allows(request.url):
            yield request
            return
        audience = self.audience or audience_for(request.url)
        token = self.tokens.get(audience)
        response = yield self._apply(request, audience, token)
        if self._stale(response, token):
            self.tokens.invalidate(audience)
            yield self._apply(request, audience, self.tokens.get(audience))

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self.allows(request.url):
            yield request
            return
        audience = self.audience or audience_for(request.url)
        token = await self.tokens.aget(audience)
        response = yield self._apply(request, audience, token)
        if self._stale(response, token):
            self.tokens.invalidate(audience)
            yield self._apply(request, audience, await self.tokens.aget(audience))

    def _apply(self, request: httpx.Request, audience: str, token: IdToken) -> httpx.Request:
        self.last_token, self.last_audience = token, audience
        request.headers[self.header] = f"Bearer {token.value}"
        if self._api_key and self.api_key_header not in request.headers:
            request.headers[self.api_key_header] = self._api_key
        return request

    @staticmethod
    def _stale(response: httpx.Response, token: IdToken) -> bool:
        replayable = isinstance(response.request.stream, httpx.ByteStream)
        return response.status_code == 401 and replayable and time.time() - token.issued_at > _YOUNG_TOKEN_S
