"""What a route requires of its caller, as typed objects that are both the FastAPI dependency and its documentation.

- ``KeyRequirement(scope)``: a valid API key, holding ``scope`` if given (``require_key``);
- ``GoogleRequirement()``: the caller's Google identity (``require_google``);
- ``KeyAndGoogleRequirement(scope)``: both (``require(scope, key=True, google=True)``);
- ``IapRequirement()``: a person signed in through Identity-Aware Proxy, from the verified
  ``X-Goog-IAP-JWT-Assertion`` (``require_iap``); ``KeyAndIapRequirement(scope)`` with an API key too.

``CLOUDGATE_ALLOWED_PRINCIPALS``, when set, names who may pass a Google or IAP requirement (``members``).

Called with the request, a requirement asks the app's ``Authenticator`` (left in the request's scope by the ASGI
layer, beside the parsed ``Credentials``) for the ``Principal``, or raises the ``AuthError`` that ``protect()``
answers with 401/403. Credentials that passed the same requirement recently cost one hash and one dict lookup
(``Authenticator.principal_for``). On a ``CloudgateRoute`` (``cloudgate.service.route``), a requirement given in the
route's ``dependencies`` is checked before FastAPI solves anything, and the endpoint reads the principal with
``caller(request)``. Like FastAPI's ``APIKeyHeader``, each is a ``SecurityBase``, so FastAPI lists it in the
OpenAPI schema by itself; cloudgate's hook (``openapi``) then writes the real schemes from what it carries.

Example::

    from typing import Annotated
    from fastapi import Depends
    from cloudgate.service import Principal, require_key

    Reader = Annotated[Principal, Depends(require_key("datasets:read"))]

    @app.get("/v1/things")
    async def things(caller: Reader) -> list[str]: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from fastapi.openapi.models import HTTPBase
from fastapi.security.base import SecurityBase
from starlette.requests import Request

from cloudgate.errors import ConfigError
from cloudgate.service.credentials import AUTHENTICATOR_KEY, CREDENTIALS_KEY, Credentials
from cloudgate.service.principal import Principal

if TYPE_CHECKING:
    from cloudgate.service.authenticator import Authenticator


class Requirement(SecurityBase):
    """What a route asks of its caller; ``key``, ``google``, ``iap`` and ``scope`` say what, for the check and the
    docs."""

    key: ClassVar[bool] = False
    google: ClassVar[bool] = False
    iap: ClassVar[bool] = False
    #: Every requirement made, by the name FastAPI writes in the schema, so the OpenAPI hook can find it there.
    _by_scheme_name: ClassVar[dict[str, Requirement]] = {}

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        # FastAPI writes ``scheme_name: model`` into the schema; the hook replaces both with the real schemes.
        self.scheme_name = f"cloudgate:{type(self).__name__}:{scope or ''}"
        self.model = HTTPBase(scheme="cloudgate", description="replaced by cloudgate's OpenAPI hook")
        Requirement._by_scheme_name.setdefault(self.scheme_name, self)

    @classmethod
    def named(cls, scheme_name: str) -> Requirement | None:
        """The requirement FastAPI listed under ``scheme_name`` in a schema, or ``None`` if it is not one of ours."""
        return cls._by_scheme_name.get(scheme_name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scope!r})" if self.scope else f"{type(self).__name__}()"

    @property
    def openapi_extra(self) -> dict[str, Any]:
        """The OpenAPI a route that calls this requirement itself (not through ``Depends``) passes to its decorator.

        ``@app.get(path, openapi_extra=reader.openapi_extra)`` lists the requirement in the operation's ``security``
        exactly as ``Depends`` would, so cloudgate's hook documents it the same way (the scheme, the scope, the
        401/403/503 answers), while FastAPI solves no dependency for it per request (docs/performance.md).
        """
        return {"security": [{self.scheme_name: []}]}

    async def __call__(self, request: Request) -> Principal:
        authenticator, creds = auth_context(request)
        principal = authenticator.recent_principal(creds, self)  # a repeat: no coroutine
        return principal if principal is not None else await authenticator.principal_for(creds, self)


class KeyRequirement(Requirement):
    """A valid API key, holding ``scope`` if given. The Google identity is added to the principal when present."""

    key = True


class GoogleRequirement(Requirement):
    """A Google identity, one of ``CLOUDGATE_ALLOWED_PRINCIPALS`` if that is set. No API key needed."""

    google = True

    def __init__(self) -> None:
        super().__init__(None)


class KeyAndGoogleRequirement(Requirement):
    """Both: a valid API key (holding ``scope`` if given) and the caller's Google identity."""

    key = True
    google = True


class IapRequirement(Requirement):
    """A person signed in through Identity-Aware Proxy (a verified ``X-Goog-IAP-JWT-Assertion``), one of
    ``CLOUDGATE_ALLOWED_PRINCIPALS`` if that is set. No API key needed."""

    iap = True

    def __init__(self) -> None:
        super().__init__(None)


class KeyAndIapRequirement(Requirement):
    """Both: a valid API key (holding ``scope`` if given) and an IAP sign-in."""

    key = True
    iap = True


def auth_context(request: Request) -> tuple[Authenticator, Credentials]:
    """The app's ``Authenticator`` and the request's ``Credentials``, as the ASGI layer left them."""
    scope = request.scope
    try:
        return scope[AUTHENTICATOR_KEY], scope[CREDENTIALS_KEY]
    except KeyError:
        raise ConfigError("cloudgate dependencies need the app wrapped with cloudgate.service.protect(app)") from None


def caller(request: Request) -> Principal:
    """The principal a requirement let through for this request: what a route on a ``CloudgateRoute`` with a
    requirement in its ``dependencies`` reads, instead of a ``Depends`` parameter that FastAPI would solve.

    Raises ``ConfigError`` when no requirement was checked (the route declares none, or the app is not protected).
    """
    creds: Credentials | None = request.scope.get(CREDENTIALS_KEY)
    principal = creds.principal if creds is not None else None
    if principal is None:
        raise ConfigError("caller(request) needs a requirement on the route (dependencies=[Depends(require_key())])")
    return principal


def require(scope: str | None = None, *, key: bool = True, google: bool = False, iap: bool = False) -> Requirement:
    """An API key (holding ``scope`` if given), a Google identity or an IAP sign-in, or a key with one of them."""
    if google and iap:
        raise ConfigError(
            "google=True and iap=True name two callers: behind IAP the ID token is IAP's own service agent's"
        )
    if iap:
        if key:
            return KeyAndIapRequirement(scope)
        if scope is not None:
            raise ConfigError("a scope belongs to an API key: use require(scope, key=True, iap=True)")
        return IapRequirement()
    if key and google:
        return KeyAndGoogleRequirement(scope)
    if key:
        return KeyRequirement(scope)
    if google and scope is None:
        return GoogleRequirement()
    if google:
        raise ConfigError("a scope belongs to an API key: use require(scope, key=True, google=True)")
    raise ConfigError("a requirement needs key=True, google=True or both")


def require_key(scope: str | None = None) -> KeyRequirement:
    """A valid API key, holding ``scope`` if given. The Google identity is added when a token is present."""
    return KeyRequirement(scope)


def require_google() -> GoogleRequirement:
    """A Google identity, one of ``CLOUDGATE_ALLOWED_PRINCIPALS`` if that is set. No API key needed."""
    return GoogleRequirement()


def require_iap() -> IapRequirement:
    """A person signed in through Identity-Aware Proxy, one of ``CLOUDGATE_ALLOWED_PRINCIPALS`` if that is set."""
    return IapRequirement()
