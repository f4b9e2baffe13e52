"""The metadata server, as code running on Cloud Run sees it (google-auth and gcloud both use it).

Point clients at it with ``GCE_METADATA_HOST=127.0.0.1:8089`` (paths) and ``GCE_METADATA_IP=127.0.0.1:8089``
(google-auth's detection ping) or ``GCE_METADATA_ROOT`` (gcloud). Every answer carries ``Metadata-Flavor: Google``;
``/computeMetadata/v1/...`` requires that header on the request (403 without, as on Google). The instance runs as
the state's ``metadata_account`` (``cloudgate emulator metadata --account``); without one, the service-account
paths answer 404.

- ``GET /``: the detection ping. Everything is also served under ``/revisions/{REVISION}/`` for a revision deployed
  through the admin API, running as that revision's service account (its ``GCE_METADATA_*`` point there).
- ``.../project/project-id``, ``.../project/numeric-project-id``, ``.../instance/region``, ``.../instance/zone``.
- ``.../instance/service-accounts/{default|EMAIL}/email``, ``/`` (``?recursive=true``: JSON), ``/scopes``.
- ``.../instance/service-accounts/{default|EMAIL}/identity?audience=A[&format=full]``: the raw ID token.
- ``.../instance/service-accounts/{default|EMAIL}/token``: an access token (JSON).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.run_services import revision_template
from cloudgate.emulator.core.state import State
from cloudgate.google import METADATA_FLAVOR, METADATA_FLAVOR_HEADER

logger = logging.getLogger(__name__)

_REGION = "us-central1"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"]
_FLAVOR = {METADATA_FLAVOR_HEADER: METADATA_FLAVOR}


def _text(body: str, status: int = 200) -> Response:
    return PlainTextResponse(body, status_code=status, headers=_FLAVOR)


def metadata_routes(ctx: EmulatorContext) -> list[Route]:
    """The metadata server's routes."""

    async def ping(request: Request) -> Response:
        return _text("computeMetadata/\n")

    async def value(request: Request) -> Response:
        if request.headers.get(METADATA_FLAVOR_HEADER) != METADATA_FLAVOR:
            return _text("Missing required header: Metadata-Flavor: Google\n", 403)
        path = request.path_params["path"].rstrip("/")
        state = ctx.store.current()
        account = _account(state, request.path_params.get("revision"))
        fixed = {
            "project/project-id": state.project_id,
            "project/numeric-project-id": state.project_number,
            "instance/region": f"projects/{state.project_number}/regions/{_REGION}",
            "instance/zone": f"projects/{state.project_number}/zones/{_REGION}-1",
            "instance/id": "0" * 20,
            "universe/universe-domain": "googleapis.com",
        }
        if path in fixed:
            return _text(fixed[path])
        if path == "instance/service-accounts":
            return _text("default/\n" + (f"{account}/\n" if account else ""))
        prefix = "instance/service-accounts/"
        if not path.startswith(prefix):
            return _text("Not Found\n", 404)
        alias, _, leaf = path[len(prefix) :].partition("/")
        email = account
        if email is None or alias not in {"default", email} or email not in state.accounts:
            return _text("Not Found\n", 404)
        if leaf == "email":
            return _text(email)
        if leaf == "scopes":
            return _text("\n".join(_SCOPES) + "\n")
        if leaf == "aliases":
            return _text("default\n")
        if leaf == "":
            if request.query_params.get("recursive") == "true":
                return JSONResponse({"aliases": ["default"], "email": email, "scopes": _SCOPES}, headers=_FLAVOR)
            return _text("aliases\nemail\nidentity\nscopes\ntoken\n")
        if leaf == "identity":
            audience = request.query_params.get("audience")
            if not audience:
                return _text("non-empty audience parameter required\n", 400)
            token = ctx.issuer.mint_id_token(
                email, audience, include_email=request.query_params.get("format") == "full", numeric_azp=True
            )
            logger.info("metadata server issued an ID token to %s for %s", email, audience)
            return _text(token)
        if leaf == "token":
            access, expires_in = ctx.issuer.mint_access_token(f"serviceAccount:{email}")
            return JSONResponse(
                {"access_token": access, "expires_in": expires_in, "token_type": "Bearer"}, headers=_FLAVOR
            )
        return _text("Not Found\n", 404)

    return [
        Route("/", ping, methods=["GET"]),
        Route("/computeMetadata/v1/{path:path}", value, methods=["GET"]),
        # Each deployed revision's own metadata server: it runs as the revision's service account.
        Route("/revisions/{revision}/", ping, methods=["GET"]),
        Route("/revisions/{revision}/computeMetadata/v1/{path:path}", value, methods=["GET"]),
    ]


def _account(state: State, revision: str | None) -> str | None:
    """Who the instance runs as: a revision's ``serviceAccountName``, else the emulator's metadata account."""
    if revision is None:
        return state.metadata_account
    for service in state.services.values():
        if revision in service.revisions:
            return revision_template(service, revision).service_account or state.metadata_account
    return None
