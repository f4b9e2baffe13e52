"""``CloudgateRoute``: routes whose requirement is known at start-up and checked before FastAPI solves anything.

FastAPI's sanctioned hook for work around a route's handler is an ``APIRoute`` subclass that overrides
``get_route_handler`` (FastAPI's docs, "Custom Request and APIRoute class"); a router takes it as ``route_class``.
On such a route, a requirement given in the route's ``dependencies`` (``dependencies=[Depends(reader)]``) is taken
out of FastAPI's dependency tree when the route is made and checked by the route's handler before FastAPI's own
handler runs: no dependency is solved for it per request, a refusal (401/403/503) comes before any validation
error (422), as with ``Depends``, and the endpoint reads the principal with ``caller(request)``. The requirement
is listed in the route's ``openapi_extra``, so the OpenAPI schema documents it as ``Depends`` would (cloudgate's
hook writes the real scheme, the scope and the 401/403/503 answers). A route that passes a requirement's
``openapi_extra`` itself (the direct-call form, docs/performance.md) is checked the same way.

Without ``CloudgateRoute`` the same declarations still work: FastAPI solves the dependency, and ``caller`` reads
what it left. ``Depends(require(...))`` parameters and ``KeyCaller`` are untouched on either kind of route.

``app.dependency_overrides`` applies to a route-level requirement as to any dependency: a request that finds one of
the route's requirements overridden is served by the same route made with its requirements as FastAPI dependencies
(made once, the first time), so FastAPI solves the override and ``caller(request)`` reads the principal it returns.
Other requests pay for this one attribute read, the one FastAPI's own handler makes on every request.

Example::

    from fastapi import APIRouter, Depends, Request
    from cloudgate.service import CloudgateRoute, caller, require_key

    router = APIRouter(route_class=CloudgateRoute)  # or app.router.route_class = CloudgateRoute, before the routes

    @router.get("/v1/hot", dependencies=[Depends(require_key("datasets:read"))])
    async def hot(request: Request) -> dict[str, str]:
        return {"name": caller(request).name}
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import params
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from cloudgate.service.auth import Requirement, auth_context
from cloudgate.service.credentials import CREDENTIALS_KEY, Credentials
from cloudgate.service.principal import Principal

_Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CloudgateRoute(APIRoute):
    """An ``APIRoute`` that checks the route's cloudgate requirements itself, before FastAPI's handler."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        dependencies: Sequence[params.Depends] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        others = [depends for depends in dependencies or () if not isinstance(depends.dependency, Requirement)]
        taken = [depends.dependency for depends in dependencies or () if isinstance(depends.dependency, Requirement)]
        extra = dict(openapi_extra or {})
        named = _named(extra)
        if taken:
            # Listed as FastAPI lists a Depends requirement; FastAPI concatenates the operation's security lists.
            extra["security"] = [*extra.get("security", []), *({r.scheme_name: []} for r in taken)]
        #: What this route requires, checked in order: named in ``openapi_extra``, then taken from ``dependencies``.
        self.requirements: tuple[Requirement, ...] = tuple(dict.fromkeys([*named, *taken]))
        super().__init__(path, endpoint, dependencies=others, openapi_extra=extra or None, **kwargs)
        #: How to make the same route with its requirements as FastAPI dependencies, for ``dependency_overrides``.
        self._as_dependencies = (path, endpoint, others, extra or None, kwargs)
        self._overridable: _Handler | None = None

    def get_route_handler(self) -> _Handler:
        handler = super().get_route_handler()
        requirements = self.requirements
        if not requirements:
            return handler
        provider = self.dependency_overrides_provider

        async def checked(request: Request) -> Response:
            # What FastAPI's own handler reads on every request: one attribute, empty outside tests.
            overrides = getattr(provider, "dependency_overrides", None)
            if overrides and any(requirement in overrides for requirement in requirements):
                return await self._overridable_handler()(request)
            authenticator, creds = auth_context(request)
            for requirement in requirements:
                if authenticator.recent_principal(creds, requirement) is None:  # a repeat: no coroutine
                    await authenticator.principal_for(creds, requirement)
            return await handler(request)

        return checked

    def _overridable_handler(self) -> _Handler:
        """The handler of this route with its requirements solved by FastAPI, so ``app.dependency_overrides``
        applies to them as to any dependency; made the first time a request finds one of them overridden."""
        if self._overridable is None:
            path, endpoint, others, extra, kwargs = self._as_dependencies
            recorded = [params.Depends(_recording(requirement)) for requirement in self.requirements]
            plain = APIRoute(path, endpoint, dependencies=[*recorded, *others], openapi_extra=extra, **kwargs)
            self._overridable = plain.get_route_handler()
        return self._overridable


def _recording(requirement: Requirement) -> Callable[..., Coroutine[Any, Any, None]]:
    """A dependency on ``requirement`` (or on its override) that leaves the principal for ``caller(request)``."""

    # ``Any``: an override may return anything; only a Principal is left for ``caller``.
    async def record(request: Request, principal: Any = params.Depends(requirement)) -> None:
        creds = request.scope.setdefault(CREDENTIALS_KEY, Credentials())
        if isinstance(creds, Credentials) and isinstance(principal, Principal):
            creds.principal = principal

    return record


def _named(openapi_extra: dict[str, Any]) -> list[Requirement]:
    """The requirements a route's own ``openapi_extra`` lists (``openapi_extra=reader.openapi_extra``)."""
    names = [name for entry in openapi_extra.get("security", []) for name in entry]
    return [requirement for name in names if (requirement := Requirement.named(name)) is not None]
