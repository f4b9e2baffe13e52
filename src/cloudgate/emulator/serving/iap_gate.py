"""Identity-Aware Proxy in front of a Cloud Run service with ``--iap``: sign-in, the accessor check, the signed header.

The front end (``frontend.py``) asks ``IapGate.admit`` first for every request; for a service with IAP on it:

- drops what a caller could forge: ``X-Goog-IAP-JWT-Assertion``, ``X-Goog-Authenticated-User-Email``/``-Id``,
  ``X-Serverless-Authorization``, and IAP's own cookies (never forwarded, on any service);
- answers only requests whose ``Host`` is a local name (``hosts.py``): a DNS-rebinding page would otherwise sign
  in and read the service as same-origin (``421``);
- ``/_gcp_iap/signin`` (the emulator's stand-in for Google's sign-in): ``GET`` is an account chooser listing the
  emulated directory's users (no passwords); ``POST`` (a form, same origin only, with the chooser's XSRF token)
  makes a session (``core/iap_sessions.py``) and a cookie ``GCP_IAP_AUTH_TOKEN_<service>`` (HttpOnly,
  SameSite=Lax, random), then redirects to ``continue``, which must be a path of this origin (``/x?y``), never a
  URL or ``//host``;
- ``/_gcp_iap/clear_login_cookie`` (Google's path): signs out;
- a request without a session: a browser navigation (``GET``/``HEAD`` accepting ``text/html``) is redirected (302)
  to the sign-in page; anything else gets ``401`` (Google's FAQ: POSTs and non-HTML clients are not redirected);
- programmatic callers: ``Proxy-Authorization: Bearer`` (or ``Authorization: Bearer``) with an ID token whose
  ``aud`` is IAP's OAuth client (``core/iap.py`` ``oauth_client_id``); a bad one is ``401``;
- the signed-in principal needs ``roles/iap.httpsResourceAccessor`` on IAP's policy of the service or the project
  (``core/permissions.py``), else IAP's ``403`` page;
- a passing request goes on with the IAP service agent's ID token in ``X-Serverless-Authorization`` (so the
  front end's invoker check applies to the agent, as on Google: without its ``roles/run.invoker`` the request is
  refused there), ``X-Goog-IAP-JWT-Assertion`` (ES256, ``core/iap.py``) and ``X-Goog-Authenticated-User-Email``/
  ``-Id`` (``accounts.google.com:`` prefixed).

Example::

    gate = IapGate(ctx)
    answer = await gate.admit(scope, receive, state, "api", tag="")   # None: forward; else (reason, response)
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import jwt
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope

from cloudgate.emulator.core import iap
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.iap_sessions import SESSION_LIFETIME_S
from cloudgate.emulator.core.permissions import PolicyIndex, iap_resource, policy_index, service_resource
from cloudgate.emulator.core.state import DEFAULT_REGION, Service, State
from cloudgate.emulator.core.tokens import IdTokenError
from cloudgate.emulator.hosts import is_local_host
from cloudgate.google import SIGNATURE_REMOVED
from cloudgate.headers import date_header

logger = logging.getLogger(__name__)

SIGNIN_PATH = "/_gcp_iap/signin"
SIGNOUT_PATH = "/_gcp_iap/clear_login_cookie"
_COOKIE_PREFIX = "GCP_IAP_"
_FORGEABLE = frozenset(
    {b"x-goog-iap-jwt-assertion", b"x-goog-authenticated-user-email", b"x-goog-authenticated-user-id",
     b"x-serverless-authorization"}
)  # fmt: skip
_INVOKE = "run.routes.invoke"
_MAX_FORM_BYTES = 8 * 1024
_MAX_CONTINUE = 2048
#: The agent's ID token is reused until this long before it expires.
_AGENT_TOKEN_MARGIN_S = 60
#: An assertion is signed again after this long (its ``exp`` is 10 minutes after its ``iat``).
_ASSERTION_REUSE_S = 60
_CACHE_LIMIT = 1000

Answer = tuple[str, Response]


@dataclass(frozen=True, slots=True)
class _Caller:
    """Who IAP signed in (a session) or authenticated (an ID token for its OAuth client)."""

    member: str
    email: str
    subject_id: str


def safe_continue(value: str | None) -> str:
    """Where to go after sign-in: a path of this origin (``/docs?x=1``); anything else (a URL, ``//host``,
    ``/\\host``, control characters, IAP's own paths) becomes ``/``."""
    if not value or len(value) > _MAX_CONTINUE or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in value) or value.startswith("/_gcp_iap/"):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def cookie_suffix(service: str) -> str:
    """Cookies are per host, not per port: each service's cookies get a name of their own."""
    return hashlib.sha256(service.encode()).hexdigest()[:12].upper()


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        if name == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                key, _, val = pair.strip().partition("=")
                found.setdefault(key, val)
    return found


def _without_iap_cookies(value: bytes) -> bytes:
    kept = [p for p in value.split(b";") if not p.strip().upper().startswith(_COOKIE_PREFIX.encode())]
    return b";".join(kept).strip()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next((v for n, v in headers if n == name), b"").decode("latin-1")


def _page(status: int, title: str, body: str, headers: dict[str, str] | None = None) -> Response:
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>{body}</body></html>\n"
    )
    response = HTMLResponse(page, status, headers)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    response.raw_headers.append(date_header())
    return response


def _forbidden(email: str) -> Answer:
    """IAP's refusal of a signed-in person without the accessor role (its wording on Google's 403 page)."""
    body = (
        "<h1>You don't have access</h1>"
        f"<p>{html.escape(email)} doesn't have access to this resource. Contact the owner of the resource and "
        "ask for the IAP-secured Web App User role (<code>roles/iap.httpsResourceAccessor</code>).</p>"
        f"<p><a href='{SIGNOUT_PATH}'>Sign in with a different account</a></p>"
    )
    return "iap_not_accessor", _page(403, "Error 403 (Forbidden)", body)


def _unauthorized(reason: str, message: str) -> Answer:
    body = f"<h1>401 Unauthorized</h1><p>Invalid IAP credentials: {html.escape(message)}</p>"
    return reason, _page(401, "401 Unauthorized", body)


class IapGate:
    """IAP for the services of one emulator; sessions live in ``ctx.iap_sessions``."""

    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx
        self._agent_tokens: dict[str, tuple[str, float]] = {}
        self._assertions: dict[tuple[str, str, str], tuple[str, float]] = {}

    async def admit(self, scope: Scope, receive: Receive, state: State, name: str, *, tag: str = "") -> Answer | None:
        """``None`` to go on to the invoker check (headers rewritten), or the answer IAP gives instead."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        service = state.services.get(name)
        if service is None or not service.iap:
            if any(n == b"cookie" and _COOKIE_PREFIX.encode() in v.upper() for n, v in headers):
                scope["headers"] = _strip(headers, frozenset())
            return None
        own = urlsplit(service.tag_urls.get(tag, service.url))
        if not is_local_host(_header(headers, b"host"), [own.hostname or ""]):
            message = "<p>The emulator's IAP answers only requests for a local name (no DNS rebinding).</p>"
            return "iap_host_refused", _page(421, "421 Misdirected Request", message)
        path: str = scope["path"]
        if path == SIGNIN_PATH:
            return await self._signin(scope, receive, state, name)
        if path == SIGNOUT_PATH:
            return self._signout(headers, name)
        index = policy_index(state)
        who = self._programmatic(headers, state, index) or self._session(headers, name)
        if who is None:
            return self._sign_in_first(scope)
        if not isinstance(who, _Caller):
            return who
        if not index.identities(who.member) or not index.allows(who.member, iap.ACCESS_PERMISSION, iap_resource(name)):
            logger.info("IAP refused %s on %s", who.member, name)
            return _forbidden(who.email)
        self._forward_as(scope, state, service, name, tag, who.email, who.subject_id)
        return None

    # -- who is calling ---------------------------------------------------------------------------------

    def _programmatic(
        self, headers: list[tuple[bytes, bytes]], state: State, index: PolicyIndex
    ) -> _Caller | Answer | None:
        """A programmatic caller's identity from an ID token for IAP's OAuth client; ``None`` without one."""
        for name in (b"proxy-authorization", b"authorization"):
            scheme, _, token = _header(headers, name).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                continue
            try:
                claims = self.ctx.issuer.verify_id_token(
                    token.strip(), frozenset({iap.oauth_client_id(state.project_number)})
                )
            except IdTokenError as exc:
                return _unauthorized(f"iap_{exc.reason}", f"the ID token is not valid for IAP ({exc.reason})")
            member = index.principal(claims)
            if member is None:
                return _unauthorized("iap_unknown_principal", "the ID token's account does not exist")
            return _Caller(member, member.partition(":")[2], str(claims.get("sub", "")))
        return None

    def _session(self, headers: list[tuple[bytes, bytes]], name: str) -> _Caller | None:
        token = _cookies(headers).get(f"{_COOKIE_PREFIX}AUTH_TOKEN_{cookie_suffix(name)}")
        session = self.ctx.iap_sessions.get(token, name) if token else None
        return _Caller(session.member, session.email, session.subject_id) if session is not None else None

    def _sign_in_first(self, scope: Scope) -> Answer:
        accepts_html = "text/html" in _header(scope["headers"], b"accept").lower()
        if scope["method"] not in ("GET", "HEAD") or not accepts_html:
            return _unauthorized("iap_missing_credentials", "empty token")
        query = scope.get("query_string", b"").decode("latin-1")
        target = safe_continue(scope["path"] + (f"?{query}" if query else ""))
        return "iap_sign_in", RedirectResponse(f"{SIGNIN_PATH}?continue={quote(target, safe='')}", 302)

    # -- sign-in and sign-out ---------------------------------------------------------------------------

    async def _signin(self, scope: Scope, receive: Receive, state: State, name: str) -> Answer:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        xsrf_cookie = f"{_COOKIE_PREFIX}XSRF_{cookie_suffix(name)}"
        if scope["method"] != "POST":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return "iap_sign_in", self._chooser(
                state, name, safe_continue(query.get("continue", ["/"])[0]), xsrf_cookie
            )
        refusal = _cross_site(scope)
        if refusal is not None:
            return refusal
        form = await _read_form(receive)
        if form is None:
            return "iap_bad_form", _page(400, "400 Bad Request", "<h1>Bad request</h1><p>Send the sign-in form.</p>")
        given, expected = form.get("xsrf", ""), _cookies(headers).get(xsrf_cookie, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return "iap_xsrf", _page(
                403, "403 Forbidden", "<h1>Sign-in refused</h1><p>The form has expired: reload it.</p>"
            )
        email = form.get("email", "")
        user = state.users.get(email)
        if user is None:
            return "iap_unknown_user", _page(400, "400 Bad Request", "<h1>No such account in the emulator</h1>")
        token = self.ctx.iap_sessions.create(f"user:{email}", email, user.unique_id, name)
        logger.info("IAP sign-in of %s on %s", email, name)
        response = RedirectResponse(safe_continue(form.get("continue")), 302)
        response.set_cookie(
            f"{_COOKIE_PREFIX}AUTH_TOKEN_{cookie_suffix(name)}", token, max_age=SESSION_LIFETIME_S, httponly=True,
            samesite="lax", path="/",
        )  # fmt: skip
        response.delete_cookie(xsrf_cookie, path="/")
        return "iap_signed_in", response

    def _chooser(self, state: State, name: str, target: str, xsrf_cookie: str) -> Response:
        xsrf = secrets.token_urlsafe(24)
        hidden = (
            f"<input type='hidden' name='continue' value='{html.escape(target, quote=True)}'>"
            f"<input type='hidden' name='xsrf' value='{xsrf}'>"
        )
        rows = "".join(
            f"<li><form method='post' action='{SIGNIN_PATH}'>{hidden}"
            f"<button type='submit' name='email' value='{html.escape(email, quote=True)}'>{html.escape(email)}"
            "</button></form></li>"
            for email in sorted(state.users)
        )
        listed = (
            f"<ul>{rows}</ul>"
            if rows
            else ("<p>No emulated users yet: create one with <code>cloudgate emulator users create EMAIL</code>.</p>")
        )
        body = (
            "<h1>Choose an account</h1>"
            f"<p>to continue to <b>{html.escape(name)}</b> (cloudgate emulator: Google sign-in, no passwords)</p>"
            f"{listed}"
        )
        response = _page(200, "Sign in - Google Accounts", body)
        response.set_cookie(xsrf_cookie, xsrf, max_age=600, httponly=True, samesite="strict", path="/")
        return response

    def _signout(self, headers: list[tuple[bytes, bytes]], name: str) -> Answer:
        cookie = f"{_COOKIE_PREFIX}AUTH_TOKEN_{cookie_suffix(name)}"
        token = _cookies(headers).get(cookie)
        if token:
            self.ctx.iap_sessions.drop(token)
        body = f"<h1>Signed out</h1><p><a href='{SIGNIN_PATH}'>Sign in again</a></p>"
        response = _page(200, "Signed out", body)
        response.delete_cookie(cookie, path="/")
        return "iap_signed_out", response

    # -- forwarding -------------------------------------------------------------------------------------

    def _forward_as(
        self, scope: Scope, state: State, service: Service, name: str, tag: str, email: str, subject_id: str
    ) -> None:
        """Replace what the caller sent with what IAP sends: the agent's token, the assertion, the user headers."""
        region = service.region or DEFAULT_REGION
        audience = iap.audience(state.project_number, region, name.rpartition("/")[2])
        now = self.ctx.issuer.now()
        assertion = self._assertion(email, subject_id, audience, now)
        agent = self._agent_token(state, service.tag_urls.get(tag, service.url), now)
        if not service.invoker_iam_check or policy_index(state).public(_INVOKE, service_resource(name)):
            # No invoker check will strip the signature: do it here, as Cloud Run always does before the app.
            head, payload, _ = agent.split(".")
            agent = f"{head}.{payload}.{SIGNATURE_REMOVED}"
        used = {b"proxy-authorization"} if _header(scope["headers"], b"proxy-authorization") else set()
        if not used and _header(scope["headers"], b"authorization").lower().startswith("bearer "):
            used.add(b"authorization")  # the caller's IAP token: consumed by IAP
        headers = _strip(scope["headers"], frozenset(used))
        headers += [
            (b"x-serverless-authorization", f"Bearer {agent}".encode()),
            (b"x-goog-iap-jwt-assertion", assertion.encode()),
            (b"x-goog-authenticated-user-email", f"{iap.ACCOUNT_PREFIX}{email}".encode()),
            (b"x-goog-authenticated-user-id", f"{iap.ACCOUNT_PREFIX}{subject_id}".encode()),
        ]
        scope["headers"] = headers

    def _assertion(self, email: str, subject_id: str, audience: str, now: float) -> str:
        """IAP's signed header for this person and service: one signature per ``_ASSERTION_REUSE_S`` (signing is
        most of the gate's cost), still valid for at least 9 of its 10 minutes when sent."""
        key = (email, subject_id, audience)
        cached = self._assertions.get(key)
        if cached is not None and 0 <= now - cached[1] < _ASSERTION_REUSE_S:
            return cached[0]
        claims = iap.assertion_claims(email=email, subject_id=subject_id, audience=audience, now=now)
        assertion = self.ctx.iap_signing_keys().sign(claims)
        if len(self._assertions) >= _CACHE_LIMIT:
            self._assertions.clear()
        self._assertions[key] = (assertion, now)
        return assertion

    def _agent_token(self, state: State, audience: str, now: float) -> str:
        cached = self._agent_tokens.get(audience)
        if cached is not None and cached[1] - _AGENT_TOKEN_MARGIN_S > now:
            return cached[0]
        token = self.ctx.issuer.mint_id_token(iap.agent_email(state.project_number), audience)
        expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        if len(self._agent_tokens) >= _CACHE_LIMIT:
            self._agent_tokens.clear()
        self._agent_tokens[audience] = (token, expires)
        return token


def _strip(headers: list[tuple[bytes, bytes]], also: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    """``headers`` without the forgeable IAP headers, ``also``, and IAP's cookies."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name in _FORGEABLE or name in also:
            continue
        if name == b"cookie":
            value = _without_iap_cookies(value)
            if not value:
                continue
        kept.append((name, value))
    return kept


def _cross_site(scope: Scope) -> Answer | None:
    """The sign-in form must come from this origin: ``Origin`` (when sent) is this origin, and the browser does
    not mark it cross-site or same-site (another port of 127.0.0.1 is same-site, not same-origin)."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    origin = _header(headers, b"origin")
    own = f"{scope.get('scheme', 'http')}://{_header(headers, b'host')}".lower()
    site = _header(headers, b"sec-fetch-site").lower()
    media = _header(headers, b"content-type").split(";", 1)[0].strip().lower()
    if (origin and origin.lower() != own) or site in ("cross-site", "same-site"):
        return "iap_cross_site", _page(403, "403 Forbidden", "<h1>Sign-in refused</h1><p>Cross-site request.</p>")
    if media != "application/x-www-form-urlencoded":
        return "iap_bad_form", _page(415, "415 Unsupported Media Type", "<h1>Send the sign-in form.</h1>")
    return None


async def _read_form(receive: Receive) -> dict[str, str] | None:
    """The form body (at most 8 KiB) as ``name -> first value``; ``None`` when too large or not text."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > _MAX_FORM_BYTES:
            return None
        if not message.get("more_body", False):
            break
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    return {key: values[0] for key, values in parsed.items()}
