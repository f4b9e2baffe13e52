"""The one pure-ASGI layer every request passes: credentials, limits, trace context, errors and the access log.

It is written as raw ASGI rather than as several Starlette ``BaseHTTPMiddleware`` layers because it runs on every
request: one pass over the headers serves the auth dependencies, the body limit, the trace fields and the log
line, and nothing here awaits anything the request does not need.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudgate.service.client_ip import client_ip
from cloudgate.service.credentials import Credentials, bearer_token
from cloudgate.service.errors_http import error_body
from cloudgate.service.logs import parse_trace, redact, trace_context
from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger("cloudgate.access")
_errors = logging.getLogger(__name__)

CREDENTIALS_KEY = "cloudgate.credentials"
AUTHENTICATOR_KEY = "cloudgate.authenticator"
_QUIET_PATHS = frozenset({"/health"})


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a chunked body passes the limit; an HTTPException so FastAPI answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class CloudgateMiddleware:
    """Parses credentials, enforces body and response limits, sets trace context, logs each request."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings, authenticator: Any) -> None:
        self.app = app
        self.settings = settings
        self.authenticator = authenticator
        self._key_header = settings.api_key_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        settings = self.settings
        creds = Credentials()
        serverless = authorization = cloud_trace = traceparent = user_agent = referer = None
        content_length: int | None = None
        key_header = self._key_header
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == key_header:
                creds.api_keys.append(value.decode("latin-1"))
            elif name == b"x-serverless-authorization":
                serverless = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif name == b"x-cloud-trace-context":
                cloud_trace = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"referer":
                referer = value.decode("latin-1")
        # Cloud Run checks X-Serverless-Authorization when present and ignores Authorization then (CLOUD_RUN.md).
        if serverless is not None:
            creds.bearer = bearer_token(serverless)
        elif authorization is not None:
            creds.bearer = bearer_token(authorization)
        scope[CREDENTIALS_KEY] = creds
        scope[AUTHENTICATOR_KEY] = self.authenticator

        trace = parse_trace(cloud_trace, traceparent, settings.project_id) if (cloud_trace or traceparent) else None
        token = trace_context.set(trace)
        status = 500
        sent = 0
        started_response = False
        replaced = False
        limit = settings.max_body_bytes
        cap = settings.max_response_bytes

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent, started_response, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                size = _content_length(message)
                if size is not None and size > cap:
                    replaced = True
                    status = 500
                    _errors.error(
                        "response of %d bytes to %s %s refused: over the %d byte limit for non-streamed responses",
                        size,
                        scope["method"],
                        scope["path"],
                        cap,
                    )
                    sent += await _send_error(
                        send,
                        500,
                        f"the response would be {size} bytes, over the {cap} byte limit Cloud Run allows for "
                        "non-streamed responses; request fewer rows (paging) or use a streaming endpoint",
                    )
                    return
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            if header_bytes > settings.max_header_bytes:
                # httptools sets no limit of its own; on Cloud Run, Google's front end would have refused them.
                status = 431
                started_response = True
                sent = await _send_error(
                    send, 431, f"request headers are larger than {settings.max_header_bytes} bytes"
                )
            elif content_length is not None and (content_length < 0 or content_length > limit):
                status = 400 if content_length < 0 else 413
                detail = (
                    "invalid Content-Length" if content_length < 0 else f"request body is larger than {limit} bytes"
                )
                started_response = True
                sent = await _send_error(send, status, detail)
            else:
                await self.app(scope, _limited(receive, limit) if content_length is None else receive, send_wrapper)
        except Exception:
            _errors.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not started_response:
                status = 500
                sent = await _send_error(send, 500, "internal error")
        finally:
            if scope["path"] not in _QUIET_PATHS or status >= 400:
                self._log(scope, status, sent, started, creds, user_agent, referer, trace)
            trace_context.reset(token)

    def _log(
        self,
        scope: Scope,
        status: int,
        size: int,
        started: float,
        creds: Credentials,
        user_agent: str | None,
        referer: str | None,
        trace: dict[str, Any] | None,
    ) -> None:
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
            "remoteIp": client_ip(scope, self.settings.trust_forwarded_for),
            "latency": f"{latency:.6f}s",
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        }
        if user_agent:
            http_request["userAgent"] = redact(user_agent[:200])
        if referer:
            http_request["referer"] = redact(referer.split("?", 1)[0][:200])
        principal = creds.principal.name if creds.principal else None
        logger.info(
            "%s %s%s %d",
            scope["method"],
            http_request["requestUrl"],
            " (query omitted)" if query else "",
            status,
            extra={"httpRequest": http_request, "principal": principal, "trace": trace},
        )


def _content_length(message: Message) -> int | None:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


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
