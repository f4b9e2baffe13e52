"""``protect(app)``: what turns any FastAPI app into a cloudgate service.

Example::

    from fastapi import FastAPI
    from cloudgate.service import protect, KeyCaller

    def create_app() -> FastAPI:
        app = FastAPI(title="My API")

        @app.get("/v1/whoami")
        async def whoami(caller: KeyCaller) -> dict[str, str | None]:
            return {"name": caller.name}

        return protect(app)  # docs behind Basic, keys, identity, JSON logs, limits, /health
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from cloudgate.errors import AppError, AuthError, KeyStoreError, UnavailableError
from cloudgate.service.authenticator import Authenticator
from cloudgate.service.errors_http import (
    handle_app_error,
    handle_auth_error,
    handle_http_exception,
    handle_unavailable,
    handle_validation_error,
)
from cloudgate.service.exposure import warn_off_cloud_run
from cloudgate.service.lifespan import close_on_shutdown
from cloudgate.service.middleware import CloudgateMiddleware
from cloudgate.service.openapi import install_openapi, remove_open_docs_routes
from cloudgate.service.settings import IdentityMode, ServiceSettings, get_settings

logger = logging.getLogger(__name__)


def protect(app: FastAPI, settings: ServiceSettings | None = None) -> FastAPI:
    """Secure ``app`` in place and return it. Settings default to ``get_settings()`` (the environment)."""
    settings = settings or get_settings()
    if getattr(app.state, "cloudgate_settings", None) is not None:
        raise RuntimeError("protect() was already applied to this app")
    app.state.cloudgate_settings = settings
    authenticator = Authenticator(settings)
    authenticator.check_config()
    warn_off_cloud_run(settings)
    if settings.identity is IdentityMode.CLOUD_RUN and not settings.audiences:
        logger.info("identity=cloud-run with no CLOUDGATE_AUDIENCES: relying on Cloud Run's own audience check")

    app.add_exception_handler(AuthError, handle_auth_error)
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(UnavailableError, handle_unavailable)
    app.add_exception_handler(KeyStoreError, handle_unavailable)
    app.add_exception_handler(HTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)

    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    if settings.docs_users.get_secret_value().strip() or settings.docs_users_file is not None or settings.docs_auth.iap:
        from cloudgate.service.docs import install_docs  # argon2, limits and the assets: only when docs are on

        install_docs(app, settings, iap=authenticator.iap)  # also removes FastAPI's own, unprotected docs routes
    else:
        remove_open_docs_routes(app)  # docs off, the secure default: nothing to serve (404)
    install_openapi(app, settings)
    app.add_middleware(CloudgateMiddleware, settings=settings, authenticator=authenticator)

    close_on_shutdown(app, authenticator.aclose)
    return app
