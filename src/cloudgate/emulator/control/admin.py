"""The emulator's admin API (local use only): state, counters, settings, key rotation, fault injection.

Every route answers only clients on the loopback interface (403 otherwise, also for a request a relay forwards
for a non-loopback ``X-Forwarded-For``/``Forwarded`` client); the emulator binds 127.0.0.1 anyway.
A local client can still be a web page in the developer's browser, so (besides the ``Host`` check every Google
endpoint gets, ``hosts.py``) a request with an ``Origin`` other than the emulator's own, or marked
``Sec-Fetch-Site: cross-site``/``same-site``, is refused (403), and a body must be sent as
``Content-Type: application/json`` (415 otherwise): a cross-site page can send a text/plain POST without a
CORS preflight, but never one with that type. Bodyless POSTs (``keys/rotate``, ``counters/reset``) need no type.

- ``GET /admin/state``: accounts (public keys only), users (emails), services and bindings.
- ``GET /admin/counters``, ``POST /admin/counters/reset``: tokens issued per account and per audience,
  front-end requests forwarded and refused (by reason), token endpoint errors.
- ``GET /admin/instances``: each scaled service's instances (name, URL, state, requests in flight and served).
- ``GET /admin/settings``, ``PUT /admin/settings`` ``{"token_lifetime_seconds": N, "iam_propagation_seconds": S,
  "project_id": P, "metadata_account": A}`` (any of them): what ``cloudgate emulator settings`` changes.
- ``POST /admin/state/accounts/create``, ``.../accounts/key``, ``.../accounts/grant``, ``.../users/create``,
  ``.../services/set``, ``.../services/grant``, ``.../services/revoke``, ``.../project/grant``: the changes
  ``cloudgate emulator accounts/users/services/project`` make while this emulator runs, so that it is the one
  writer of its state (``state_changes.py``: the same functions the CLI applies itself when none runs). A refused
  change: ``400`` with the reason in ``detail``.
- ``POST /admin/keys/rotate``: a new signing key (the previous one stays published); answers ``{"kid"}``.
- ``GET /admin/faults``, ``POST /admin/faults`` ``{"count": N, "status": 503}``: the front end answers the next
  N requests with that status before any other check.
- ``PUT /admin/services/NAME`` ``{"service": <Knative Service>, "port": N}``, ``GET /admin/services/NAME``: deploy
  a service with its front end on port N, as ``cloudgate dev`` and ``cloudgate emulator run -- CMD`` do
  (``local_services.py``); read it back until ``Ready``.
- ``POST /admin/gcloud-credentials``: a new key file of the ``deployer`` service account (created on first use,
  ``roles/owner`` on the project), for ``cloudgate emulator gcloud-env``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import partial
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate import codes
from cloudgate.emulator.control import local_services
from cloudgate.emulator.control.state_changes import CHANGES, StateChange, change_settings
from cloudgate.emulator.control.state_changes import settings as current_settings
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.errors import CloudgateError


def _is_loopback(request: Request) -> bool:
    """The peer is on loopback, and so is every client a relay says it forwards for.

    uvicorn runs without ``proxy_headers`` (the peer address is the real one), so a local relay's
    ``X-Forwarded-For: 8.8.8.8`` would otherwise pass as local; a request forwarded for anyone else is refused.
    """
    peer = request.client.host if request.client else ""
    forwarded = [hop for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for value in request.headers.getlist("forwarded"):
        forwarded += [
            part.split("=", 1)[1] for part in re.split(r"[;,]", value) if part.strip().lower().startswith("for=")
        ]
    return all(_loopback_address(host) for host in [peer, *forwarded])


def _loopback_address(host: str) -> bool:
    host = host.strip().strip('"')
    if host.startswith("["):  # Forwarded: for="[::1]:4711"
        host = host[1 : host.find("]")]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The account whose key ``cloudgate emulator gcloud-env`` hands to gcloud (a project owner).
DEPLOYER_ACCOUNT = "deployer"


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": codes.for_status(status), "detail": detail}, status)


def _cross_site_refusal(request: Request) -> JSONResponse | None:
    """403 for what a web page on another origin sends; 415 for a body that is not declared JSON."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    if origin is not None and origin.lower() != own:
        return _error(403, "the admin API refuses requests from web pages on other origins")
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        return _error(403, "the admin API refuses cross-site requests")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method in ("POST", "PUT") and has_body and media_type != "application/json":
        return _error(415, "send the body as Content-Type: application/json")
    return None


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def public_state(ctx: EmulatorContext) -> dict[str, Any]:
    """The state without secrets' hashes: what ``GET /admin/state`` and ``cloudgate emulator show`` print."""
    data = ctx.store.current().to_json()
    data["users"] = sorted(data["users"])
    data["signing_keys"] = sorted(ctx.keys.public_keys())
    data["urls"] = {"token": ctx.token_url, "certs": ctx.certs_url, "jwks": ctx.jwks_url, "iap_jwks": ctx.iap_jwks_url}
    return data


def admin_routes(ctx: EmulatorContext) -> list[Route]:
    """The admin API's routes, each refusing non-loopback clients and cross-site requests."""

    def local_only(handler: Any) -> Any:
        async def guarded(request: Request) -> Response:
            if not _is_loopback(request):
                return _error(403, "the admin API answers only local clients")
            refusal = _cross_site_refusal(request)
            if refusal is not None:
                return refusal
            response: Response = await handler(request)
            return response

        return guarded

    async def state(request: Request) -> Response:
        return JSONResponse(public_state(ctx))

    async def counters(request: Request) -> Response:
        return JSONResponse(ctx.counters.snapshot())

    async def instances(request: Request) -> Response:
        return JSONResponse({name: pool.snapshot() for name, pool in ctx.instances.items()})

    async def reset_counters(request: Request) -> Response:
        ctx.counters.reset()
        return JSONResponse(ctx.counters.snapshot())

    async def settings(request: Request) -> Response:
        if request.method == "PUT":
            return await apply(CHANGES["settings"], request)
        return JSONResponse(current_settings(ctx.store))

    async def apply(change: StateChange, request: Request) -> Response:
        """Make ``change`` as the CLI would on the folder itself; a refusal is a 400 with its one-line reason."""
        body = await _json_object(request)
        if body is None:
            return _error(400, "send a JSON object")
        try:  # in a worker thread: a new key is an RSA key generation, the state a file write
            answer = await anyio.to_thread.run_sync(change.apply, ctx.store, body, ctx.token_url)
        except CloudgateError as exc:
            return _error(400, str(exc))
        return JSONResponse(answer)

    async def rotate(request: Request) -> Response:
        return JSONResponse({"kid": ctx.keys.rotate()})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            count, status = (body or {}).get("count"), (body or {}).get("status", 503)
            if not isinstance(count, int) or not isinstance(status, int):
                return _error(400, 'send {"count": N, "status": 503}')
            try:
                ctx.faults.set(count, status)
            except ValueError as exc:
                return _error(400, str(exc))
        return JSONResponse(ctx.faults.pending())

    async def gcloud_credentials(request: Request) -> Response:
        email = iam.create_account(ctx.store, DEPLOYER_ACCOUNT, display_name="gcloud against the emulator")
        with ctx.store.edit() as current:
            owners = current.project_bindings.setdefault("roles/owner", [])
            if f"serviceAccount:{email}" not in owners:
                owners.append(f"serviceAccount:{email}")
                current.touch_policy("project")
        key_file = iam.create_key(ctx.store, email, token_uri=ctx.token_url)
        return JSONResponse({"key_file": key_file, "project": ctx.store.current().project_id})

    async def service(request: Request) -> Response:
        name = request.path_params["name"]
        if request.method == "GET":
            return JSONResponse(local_services.describe(ctx, name))
        body = await _json_object(request)
        resource, port = (body or {}).get("service"), (body or {}).get("port", 0)
        if not isinstance(resource, dict) or not isinstance(port, int) or isinstance(port, bool):
            return _error(400, 'send {"service": <a Knative Service>, "port": N}')
        if not 0 <= port <= 65535:
            return _error(400, "port must be from 0 (any) to 65535")
        return JSONResponse(local_services.deploy_local(ctx, name, resource, port))

    return [
        Route("/admin/gcloud-credentials", local_only(gcloud_credentials), methods=["POST"]),
        Route("/admin/state", local_only(state), methods=["GET"]),
        Route("/admin/counters", local_only(counters), methods=["GET"]),
        Route("/admin/counters/reset", local_only(reset_counters), methods=["POST"]),
        Route("/admin/instances", local_only(instances), methods=["GET"]),
        Route("/admin/settings", local_only(settings), methods=["GET", "PUT"]),
        Route("/admin/keys/rotate", local_only(rotate), methods=["POST"]),
        Route("/admin/faults", local_only(faults), methods=["GET", "POST"]),
        Route("/admin/services/{name}", local_only(service), methods=["GET", "PUT"]),
        *(
            Route(change.path, local_only(partial(apply, change)), methods=[change.method])
            for change in CHANGES.values()
            if change.apply is not change_settings  # PUT /admin/settings above, beside its GET
        ),
    ]
