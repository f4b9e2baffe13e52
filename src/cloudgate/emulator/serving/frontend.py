"""The Cloud Run front end: the IAM check and HTTP rules Google applies before a request reaches the container.

An ASGI app in front of the service process, doing what ``shared/CLOUD_RUN.md`` lists:

- A service deployed with ``--iap``: Identity-Aware Proxy answers first (``iap_gate.py``: sign-in, the accessor
  check, the IAP agent's token), and the invoker check below then applies to the agent.
- Reads the ID token from ``X-Serverless-Authorization`` (preferred) or ``Authorization``; accepted audiences are
  the service URL, custom audiences and gcloud's OAuth client id (plain ``gcloud auth print-identity-token``).
  No token: ``403``; a bad one (forged, expired, wrong audience): ``401``; a valid token whose principal lacks
  ``run.routes.invoke`` on the service or the project (``roles/run.invoker``, Owner, Editor ..., decided by
  ``core/permissions.py``: groups, domains, deleted accounts): ``403``. The container never sees refused requests.
  If ``allUsers`` holds it, or the service has ``--no-invoker-iam-check``, nothing is checked.
- Reserved paths (``/eventlog``, ``/_ah/...``, paths ending in ``z``): ``404``; ``TRACE``: ``405``.
- Every response carries ``server: Google Frontend`` and ``x-cloud-trace-context``.
- Forwards the checked token with its signature replaced by ``SIGNATURE_REMOVED_BY_GOOGLE``; the other
  header (e.g. ``Authorization: Basic`` for the docs) passes through unchanged.
- Adds ``X-Cloud-Trace-Context``, ``traceparent``, ``X-Forwarded-For`` and ``X-Forwarded-Proto``.
- A request over 32 MiB: ``413``. A non-streamed response over 32 MiB: an empty ``500``. Neither cap applies to a
  service marked HTTP/2 (``--use-http2``): the front end speaks h2c to it (``h2c.py``), and bodies of any size
  stream through. The service's request timeout: ``504``. The container not answering: ``503``.
  Everything else streams both ways without buffering.
- Fault injection (admin API): the next N requests get a chosen status before any other check.
- A request target that is not a path (``OPTIONS *``): ``400``, as nothing upstream could be asked for it.
- Traffic: a service URL's requests are split between revisions by ``split`` (``Target``: instances, percent,
  the revision's own timeout and HTTP/2), set by the runtime from ``status.traffic``: each request picks a revision
  at random with those weights, as Cloud Run's split does. A tag's URL has a front end of its own (``tag``) on its
  one revision. Nothing to send to: ``503``; the service deleted, or the tag removed: ``404``.
- Each request borrows a slot of one instance of its revision (``instances.py``): no instance free in time: ``429``;
  an instance that fails to start: ``503``.
"""

from __future__ import annotations

import html
import logging
import random
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import httpx
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import policy_index, service_resource
from cloudgate.emulator.core.state import Service, State
from cloudgate.emulator.core.tokens import IdTokenError
from cloudgate.emulator.serving import h2c
from cloudgate.emulator.serving.iap_gate import IapGate
from cloudgate.emulator.serving.instances import InstancePool, InstanceStartError, NoInstanceError
from cloudgate.google import CLOUD_RUN_DEFAULT_TIMEOUT_S, CLOUD_RUN_MAX_BYTES, GCLOUD_CLIENT_ID, SIGNATURE_REMOVED
from cloudgate.headers import content_length, date_header, end_to_end

logger = logging.getLogger(__name__)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-f]{32})(/\d+)?(;o=[01])?$", re.IGNORECASE)
_INVOKE = "run.routes.invoke"
#: Headers the front end sets itself on the way to the container: a caller's values are dropped first.
_REPLACED_UPSTREAM = frozenset({b"x-cloud-trace-context", b"traceparent", b"x-forwarded-for", b"x-forwarded-proto"})


class _RequestTooLargeError(Exception):
    """The request body grew past the limit while streaming."""


@dataclass(frozen=True, slots=True)
class Target:
    """A revision a URL sends requests to: its instances, its share of them, its own timeout and protocol."""

    pool: InstancePool
    percent: int = 100
    timeout_seconds: float = CLOUD_RUN_DEFAULT_TIMEOUT_S
    http2: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """The front end's answer instead of forwarding: ``reason`` is counted and logged, ``response`` is sent."""

    reason: str
    response: Response


def _page(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error page in the style of Google's front end (an HTML body, never any detail about the token).

    It carries a ``Date``: the front end's uvicorn adds none (forwarded answers keep the container's).
    """
    body = (
        f"<html><head><meta charset='utf-8'><title>{status} {title}</title></head>"
        f"<body><h1>Error: {title}</h1><h2>{message}</h2></body></html>\n"
    )
    response = Response(body, status, headers, media_type="text/html; charset=UTF-8")
    response.raw_headers.append(date_header())
    return response


_UNAUTHORIZED = ("Unauthorized", "Your client does not have permission to the requested URL.")
_TOO_LARGE = ("Request Entity Too Large", "Your client issued a request that was too large.")
_UNAVAILABLE = ("Service Unavailable", "The service is not available.")
_NO_INSTANCE = "The request was aborted because there was no available instance."


class CloudRunFrontend:
    """ASGI app: Cloud Run's front end for one URL of one service (``service_name`` in the state): the service's
    own URL, or a traffic tag's (``tag``). The runtime (``revisions.py``) sets the revisions it sends to."""

    def __init__(
        self, ctx: EmulatorContext, service_name: str, *, max_bytes: int = CLOUD_RUN_MAX_BYTES, tag: str = ""
    ) -> None:
        self.ctx = ctx
        self.service_name = service_name
        #: The revisions sharing this URL's requests, with their percents (set by the runtime); empty: ``503``.
        self.split: list[Target] = []
        #: The traffic tag whose own URL this front end answers (``""``: the service URL).
        self.tag = tag
        self.max_bytes = max_bytes
        #: Identity-Aware Proxy for a service deployed with ``--iap`` (``iap_gate.py``).
        self.iap = IapGate(ctx)
        self._client: httpx.AsyncClient | None = None
        # Which revision takes a request is a weighted draw, not a secret: the plain generator is right here.
        self._random = random.Random()  # noqa: S311

    def _choose(self) -> Target | None:
        """The revision that takes this request: a draw weighted by the split's percents."""
        if len(self.split) <= 1:
            return self.split[0] if self.split else None
        return self._random.choices(self.split, [target.percent for target in self.split])[0]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Concurrency 80 per instance by default on Cloud Run; leave headroom for keep-alive reuse.
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
            # No httpx timeout: the service's own request timeout (``move_on_after``) bounds every exchange.
            self._client = httpx.AsyncClient(timeout=None, limits=limits, trust_env=False)  # noqa: S113
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets are not emulated
            await send({"type": "websocket.close", "code": 1003})
            return
        # One trace id per request: sent to the container and echoed in the response, as Google's front end does.
        trace_id = _incoming_trace_id(scope["headers"]) or secrets.token_hex(16)
        scope["cloudgate.trace_id"] = trace_id
        send = _google_response_headers(send, trace_id)
        # One look at the state per request (a stat; re-read only when the CLI changed it), shared by the check
        # and the timeout: IAM changes made by the CLI still apply to the very next request.
        state = self.ctx.store.current()
        refusal = _target_refusal(scope) or _reserved(scope)
        if refusal is None:
            # IAP first (a service with --iap: sign-in, the accessor check, the agent's token), then Cloud Run's.
            answer = await self.iap.admit(scope, receive, state, self.service_name, tag=self.tag)
            refusal = Refusal(*answer) if answer is not None else self._check(scope, state)
        if refusal is not None:
            status = refusal.response.status_code
            self.ctx.counters.add("frontend_refused", refusal.reason)
            logger.info("front end refused %s %s: %s (%d)", scope["method"], scope["path"], refusal.reason, status)
            await refusal.response(scope, receive, send)
            return
        target = self._choose()
        if target is None:
            self.ctx.counters.add("frontend_refused", "no_revision")
            await _page(503, *_UNAVAILABLE)(scope, receive, send)
            return
        timeout = target.timeout_seconds  # the revision's own timeout and protocol
        started = {"sent": False}
        with anyio.move_on_after(timeout) as deadline:
            try:
                async with target.pool.acquire() as upstream:
                    await self._forward(scope, receive, send, started, upstream, target.http2)
            except (NoInstanceError, InstanceStartError) as exc:
                no_room = isinstance(exc, NoInstanceError)
                self.ctx.counters.add("frontend_refused", "no_instance" if no_room else "instance_start_failed")
                logger.warning("%s", exc)
                page = _page(429, "Too Many Requests", _NO_INSTANCE) if no_room else _page(503, *_UNAVAILABLE)
                await page(scope, receive, send)
        if deadline.cancelled_caught:
            self.ctx.counters.add("frontend_refused", "timeout")
            logger.warning("request %s %s exceeded the %ss timeout", scope["method"], scope["path"], timeout)
            if not started["sent"]:
                await _page(504, "Gateway Timeout", "upstream request timeout")(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the IAM check ------------------------------------------------------------------------------------

    def _check(self, scope: Scope, state: State) -> Refusal | None:
        """``None`` to forward, or the refusal to answer with. Rewrites the token header.

        Runs on the event loop, so it must stay cheap: the token check is a cache lookup after a token's first
        use (``TokenIssuer.verify_id_token``), and the signing keys are not read from disk per request.
        """
        fault = self.ctx.faults.take()
        if fault is not None:
            return Refusal(
                "injected_fault", _page(fault, "Injected fault", "The emulator was told to fail this request.")
            )
        service = state.services.get(self.service_name)
        if service is None or (self.tag and not _tag_routed(service, self.tag)):
            return Refusal("no_service", _page(404, "Not Found", "The requested URL was not found on this server."))
        # The evaluator (core/permissions.py) decides; its index is built once per state version, so this is a
        # few dict lookups per request. allUsers holding run.routes.invoke: nothing is checked.
        index = policy_index(state)
        resource = service_resource(self.service_name)
        if not service.invoker_iam_check or index.public(_INVOKE, resource):
            return None  # --no-invoker-iam-check or allUsers: nothing checked, headers forwarded untouched
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        names = [name for name, _ in headers]
        header = b"x-serverless-authorization" if b"x-serverless-authorization" in names else b"authorization"
        value = next((v for n, v in headers if n == header), b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if names.count(header) > 1:
            # Two tokens: checking one and forwarding the other unverified would let a caller smuggle claims.
            return _unauthorized("malformed_token")
        if scheme.lower() != "bearer" or not token:
            # Cloud Run answers a request without a token 403, not 401 (401 is for a token that is bad).
            return _forbidden("missing_token", scope)
        try:
            # Plain `gcloud auth print-identity-token` tokens (aud: gcloud's OAuth client) pass on every service
            # their principal may invoke, as on Cloud Run, which is why they can be replayed across services.
            accepted = service.accepted_audiences() | {GCLOUD_CLIENT_ID, service.tag_urls.get(self.tag, service.url)}
            claims = self.ctx.issuer.verify_id_token(token, accepted)
        except IdTokenError as exc:
            return _unauthorized(exc.reason)
        member = index.principal(claims)  # None for a deleted (or deleted and re-created) account
        if member is None or not index.allows(member, _INVOKE, resource):
            return _forbidden("not_invoker", scope)
        head, payload, _ = token.split(".")
        stripped = f"{scheme} {head}.{payload}.{SIGNATURE_REMOVED}".encode()
        scope["headers"] = [(n, stripped if n == header else v) for n, v in headers]
        return None

    # -- forwarding ---------------------------------------------------------------------------------------

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, started: dict[str, bool], upstream: str, http2: bool
    ) -> None:
        # Cloud Run's 32 MiB caps are HTTP/1's: end-to-end HTTP/2 has none.
        limit = None if http2 else self.max_bytes
        declared = content_length(scope["headers"])
        if declared is not None and limit is not None and declared > limit:
            self.ctx.counters.add("frontend_refused", "request_too_large")
            await _page(413, *_TOO_LARGE)(scope, receive, send)
            return
        has_body = declared is not None or any(n == b"transfer-encoding" for n, _ in scope["headers"])
        content: AsyncIterator[bytes] | bytes = self._body(receive, limit) if has_body else b""
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = upstream + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        if http2:
            await self._forward_h2c(scope, receive, send, started, url, content)
            return
        request = httpx.Request(scope["method"], url, headers=self._upstream_headers(scope), content=content)
        try:
            response = await self._http().send(request, stream=True)
        except _RequestTooLargeError:
            self.ctx.counters.add("frontend_refused", "request_too_large")
            await _page(413, *_TOO_LARGE)(scope, receive, send)
            return
        except httpx.HTTPError as exc:
            self.ctx.counters.add("frontend_refused", "upstream_unavailable")
            logger.warning("the container did not answer: %s", type(exc).__name__)
            await _page(503, *_UNAVAILABLE)(scope, receive, send)
            return
        try:
            length = content_length(response.headers.raw)
            if length is not None and limit is not None and length > limit and scope["method"] != "HEAD":
                # Cloud Run's HTTP/1 limit: the caller gets an empty 500, the container never learns why.
                self.ctx.counters.add("frontend_refused", "response_too_large")
                logger.warning("response of %d bytes exceeds 32 MiB: answering an empty 500", length)
                await _empty_500(send)
                return
            await self._relay(send, started, response.status_code, response.headers.raw, response.aiter_raw())
        except httpx.HTTPError as exc:
            logger.warning("the container broke off its response: %s", type(exc).__name__)
            if not started["sent"]:
                await _page(503, *_UNAVAILABLE)(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # close the upstream stream even when the timeout fired
                await response.aclose()

    async def _forward_h2c(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: dict[str, bool],
        url: str,
        content: AsyncIterator[bytes] | bytes,
    ) -> None:
        """Forward over h2c (``h2c.py``): no size caps, and an early answer (a 413) is relayed, not stalled on."""
        body = content if not isinstance(content, bytes) else None

        async def relay(response: h2c.H2cResponse) -> None:
            await self._relay(send, started, response.status_code, response.headers, response.chunks())

        try:
            await h2c.exchange(url, scope["method"], self._upstream_headers(scope), body, relay)
        except h2c.H2cError as exc:
            logger.warning("the container did not answer over h2c: %s", exc)
            if not started["sent"]:
                self.ctx.counters.add("frontend_refused", "upstream_unavailable")
                await _page(503, *_UNAVAILABLE)(scope, receive, send)

    async def _relay(
        self,
        send: Send,
        started: dict[str, bool],
        status: int,
        headers: list[tuple[bytes, bytes]],
        chunks: AsyncIterator[bytes],
    ) -> None:
        """Pass the container's answer on (HTTP/1 and h2c alike): status, end-to-end headers, body as it comes."""
        await send({"type": "http.response.start", "status": status, "headers": end_to_end(headers)})
        started["sent"] = True
        self.ctx.counters.add("frontend_forwarded", str(status))
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _body(self, receive: Receive, limit: int | None) -> AsyncIterator[bytes]:
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise httpx.ReadError("client disconnected")
            chunk = message.get("body", b"")
            total += len(chunk)
            if limit is not None and total > limit:
                raise _RequestTooLargeError
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    def _upstream_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        incoming: list[tuple[bytes, bytes]] = scope["headers"]
        headers = end_to_end(incoming, _REPLACED_UPSTREAM)
        trace_id = scope["cloudgate.trace_id"]
        span = secrets.randbits(63) or 1
        headers.append((b"x-cloud-trace-context", f"{trace_id}/{span};o=1".encode()))
        headers.append((b"traceparent", f"00-{trace_id}-{span:016x}-01".encode()))
        client = scope.get("client") or ("unknown", 0)
        forwarded = [v for n, v in incoming if n == b"x-forwarded-for"]
        chain = b", ".join([*forwarded, client[0].encode()])
        headers.append((b"x-forwarded-for", chain))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        return headers


def _forbidden(reason: str, scope: Scope) -> Refusal:
    path = scope["path"] if len(scope["path"]) <= 200 else scope["path"][:200] + "..."
    message = f"Your client does not have permission to get URL {html.escape(path)} from this server."
    return Refusal(reason, _page(403, "Forbidden", message))


def _reserved(scope: Scope) -> Refusal | None:
    """Paths Cloud Run keeps for itself (``/eventlog``, ``/_ah/...``, paths ending in ``z``) and ``TRACE``.

    Google reserves "some" paths ending in ``z`` and advises against all of them; the emulator reserves all,
    so that a route the real front end would swallow is found here first.
    """
    path: str = scope["path"]
    if scope["method"] == "TRACE":
        message = "The request method TRACE is inappropriate for the URL."
        return Refusal("trace_method", _page(405, "Method Not Allowed", message))
    if path == "/eventlog" or path.startswith("/_ah/") or path.rstrip("/").endswith("z"):
        return Refusal("reserved_path", _page(404, "Not Found", "The requested URL was not found on this server."))
    return None


def _google_response_headers(send: Send, trace_id: str) -> Send:
    """``send`` with Google's front-end response headers: ``server: Google Frontend`` (replacing the
    container's own) and ``x-cloud-trace-context``."""
    added = [(b"server", b"Google Frontend"), (b"x-cloud-trace-context", f"{trace_id};o=1".encode())]
    replaced = (b"server", b"x-cloud-trace-context")

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in replaced]
            message = {**message, "headers": [*kept, *added]}
        await send(message)

    return wrapped


def _unauthorized(reason: str) -> Refusal:
    return Refusal(reason, _page(401, *_UNAUTHORIZED, {"www-authenticate": 'Bearer error="invalid_token"'}))


def _target_refusal(scope: Scope) -> Refusal | None:
    """A 400 for a request target that is not origin-form: ``OPTIONS *`` names no resource to forward.

    The upstream URL is the service's origin plus the path, so ``*`` would make ``http://127.0.0.1:PORT*``.
    """
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    if path.startswith(b"/"):
        return None
    return Refusal(
        "bad_request_target", _page(400, "Bad Request", "Your client has issued a malformed or illegal request.")
    )


def _tag_routed(service: Service, tag: str) -> bool:
    """Whether ``status.traffic`` still has ``tag`` (a removed tag's URL answers 404)."""
    return any(target.get("tag") == tag for target in service.status.get("traffic", []))


def _incoming_trace_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"traceparent" and (match := _TRACEPARENT.match(value.decode("latin-1").strip())):
            return match.group(1)
    for name, value in headers:
        if name == b"x-cloud-trace-context" and (match := _CLOUD_TRACE.match(value.decode("latin-1").strip())):
            return match.group(1).lower()
    return None


async def _empty_500(send: Send) -> None:
    """Cloud Run's answer to a response over its limit: a bare 500 with no body (and a ``Date``)."""
    headers = [date_header(), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
