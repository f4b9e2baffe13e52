"""The one pure-ASGI layer every request passes: credentials, limits, trace context, errors and the access log.

It is written as raw ASGI rather than as several Starlette ``BaseHTTPMiddleware`` layers because it runs on every
request: one pass over the headers serves the auth dependencies, the body limit, the trace fields and the log
line, and nothing here awaits anything the request does not need.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudgate import headers as http_headers
from cloudgate.service.authenticator import Authenticator
from cloudgate.service.client_ip import client_ip
from cloudgate.service.credentials import AUTHENTICATOR_KEY, CREDENTIALS_KEY, Credentials
from cloudgate.service.errors_http import error_body
from cloudgate.service.logs import parse_trace, redact, trace_context
from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger("cloudgate.access")
_errors = logging.getLogger(__name__)

_QUIET_PATHS = frozenset({"/health"})


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a chunked body passes the limit; an HTTPException so FastAPI answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


@dataclass(slots=True)
class _Seen:
    """What the one scan of the request headers found, for the checks, the auth dependencies and the log line."""

    creds: Credentials
    header_bytes: int = 0
    #: The declared body size; -1 for a value that is not a number.
    content_length: int | None = None
    cloud_trace: str | None = None
    traceparent: str | None = None
    user_agent: str | None = None
    referer: str | None = None


class _ResponseGuard:
    """Wraps ``send``: records the status and size for the log, and replaces a response declared larger than
    ``cap`` (Cloud Run refuses those when not streamed) with a 500 that says why."""

    __slots__ = ("_cap", "_replaced", "_scope", "_send", "sent", "started", "status")

    def __init__(self, send: Send, scope: Scope, cap: int) -> None:
        self._send = send
        self._scope = scope
        self._cap = cap
        self.status = 500
        self.sent = 0
        self.started = False
        self._replaced = False

    async def send(self, message: Message) -> None:
        if self._replaced:
            return
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            size = http_headers.content_length(message.get("headers", ()))
            if size is not None and size > self._cap:
                self._replaced = True
                _errors.error(
                    "response of %d bytes to %s %s refused: over the %d byte limit for non-streamed responses",
                    size,
                    self._scope["method"],
                    self._scope["path"],
                    self._cap,
                )
                await self.refuse(
                    500,
                    f"the response would be {size} bytes, over the {self._cap} byte limit Cloud Run allows for "
                    "non-streamed responses; request fewer rows (paging) or use a streaming endpoint",
                )
                return
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
        await self._send(message)

    async def refuse(self, status: int, detail: str) -> None:
        """Answer with the common error body instead of (or in place of) the app's response."""
        self.status = status
        self.started = True
        self.sent += await _send_error(self._send, status, detail)


class CloudgateMiddleware:
    """Parses credentials, enforces body and response limits, sets trace context, logs each request.

    One pass per request, in named steps: ``_scan_headers``, ``_early_refusal``, the app behind a ``_ResponseGuard``
    (and a body limit on ``receive``), then ``_access_log``.
    """

    def __init__(self, app: ASGIApp, settings: ServiceSettings, authenticator: Authenticator) -> None:
        self.app = app
        self.settings = settings
        self.authenticator = authenticator
        self._key_header = settings.api_key_header.lower().encode("latin-1")
        self._trust_forwarded_for = settings.forwarded_for_trusted()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = self._scan_headers(scope)
        scope[CREDENTIALS_KEY] = seen.creds
        scope[AUTHENTICATOR_KEY] = self.authenticator
        trace = (
            parse_trace(seen.cloud_trace, seen.traceparent, self.settings.project_id)
            if (seen.cloud_trace or seen.traceparent)
            else None
        )
        token = trace_context.set(trace)
        guard = _ResponseGuard(send, scope, self.settings.max_response_bytes)
        try:
            refusal = self._early_refusal(seen)
            if refusal is not None:
                await guard.refuse(*refusal)
            else:
                limit = self.settings.max_body_bytes
                await self.app(scope, _limited(receive, limit) if seen.content_length is None else receive, guard.send)
        except Exception:
            _errors.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not guard.started:
                await guard.refuse(500, "internal error")
        finally:
            if scope["path"] not in _QUIET_PATHS or guard.status >= 400:
                self._access_log(scope, guard.status, guard.sent, started, seen, trace)
            trace_context.reset(token)

    def _scan_headers(self, scope: Scope) -> _Seen:
        """One pass over the request headers: credentials, sizes, trace context and what the log line names."""
        creds = Credentials()
        seen = _Seen(creds)
        key_header = self._key_header
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            # Kept raw: decoded only if a requirement has to check them (a recent repeat never does).
            if name == key_header:
                creds.raw.append(b"k" + value)
            elif name == b"x-serverless-authorization":
                creds.raw.append(b"s" + value)
            elif name == b"authorization":
                creds.raw.append(b"a" + value)
            elif name == b"x-goog-iap-jwt-assertion":
                creds.raw.append(b"i" + value)
            elif name == b"content-length":
                seen.content_length = int(value) if value.isdigit() else -1
            elif name == b"x-cloud-trace-context":
                seen.cloud_trace = value.decode("latin-1")
            elif name == b"traceparent":
                seen.traceparent = value.decode("latin-1")
            elif name == b"user-agent":
                seen.user_agent = value.decode("latin-1")
            elif name == b"referer":
                seen.referer = value.decode("latin-1")
        seen.header_bytes = header_bytes
        return seen

    def _early_refusal(self, seen: _Seen) -> tuple[int, str] | None:
        """``(status, detail)`` for a request refused before the app runs: headers or declared body too large."""
        settings = self.settings
        if seen.header_bytes > settings.max_header_bytes:
            # httptools sets no limit of its own; on Cloud Run, Google's front end would have refused them.
            return 431, f"request headers are larger than {settings.max_header_bytes} bytes"
        declared = seen.content_length
        if declared is not None and declared < 0:
            return 400, "invalid Content-Length"
        if declared is not None and declared > settings.max_body_bytes:
            return 413, f"request body is larger than {settings.max_body_bytes} bytes"
        return None

    def _access_log(
        self, scope: Scope, status: int, size: int, started: float, seen: _Seen, trace: dict[str, Any] | None
    ) -> None:
        """The request's one JSON log line: only the path, redacted; the principal's name; the trace."""
        if not logger.isEnabledFor(logging.INFO):
            return
        latency = time.perf_counter() - started
        query = scope.get("query_string", b"")
        path = scope["path"]
        http_request = {
            "requestMethod": scope["method"],
            # Only the path: query strings can carry things the caller did not mean to log.
            "requestUrl": redact(path),
            "status": status,
            "responseSize": str(size),
            "remoteIp": client_ip(scope, self._trust_forwarded_for),
            "latency": f"{latency:.6f}s",
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        }
        if seen.user_agent:
            http_request["userAgent"] = redact(seen.user_agent[:200])
        if seen.referer:
            http_request["referer"] = redact(seen.referer.split("?", 1)[0][:200])
        principal = seen.creds.principal.name if seen.creds.principal else None
        logger.info(
            "%s %s%s %d",
            scope["method"],
            http_request["requestUrl"],
            " (query omitted)" if query else "",
            status,
            extra={"httpRequest": http_request, "principal": principal, "trace": trace},
        )


async def _send_error(send: Send, status: int, detail: str) -> int:
    body = error_body(status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return len(body)


def _limited(receive: Receive, limit: int) -> Receive:
    """Wrap ``receive`` so a chunked body longer than ``limit`` raises ``BodyTooLargeError``."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLargeError(limit)
        return message

    return wrapped
