"""Assembles the emulator and runs it: Google's endpoints on one port, a Cloud Run front end per service.

``google_app(ctx)`` is the ASGI app of Google's side (token endpoint, certs, IAM Credentials, metadata server,
admin API), answering only requests whose ``Host`` is a local name (``hosts.py``: no DNS rebinding).
``serve(...)`` binds Google's port (127.0.0.1 by default), starts the revision runtime (``serving/revisions.py``,
which serves every deployed service again), calls ``on_ready`` once Google's side listens (``cloudgate dev``
deploys its service there, through the admin API, like any other caller), and on SIGINT/SIGTERM stops cleanly:
the front ends finish their in-flight requests while the instances get SIGTERM (SIGKILL after 10 s), then Google's
side stops.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from cloudgate.emulator.ca import EmulatorCA
from cloudgate.emulator.control.admin import admin_routes
from cloudgate.emulator.control.api_errors import api_error_handler, unrouted_handler
from cloudgate.emulator.control.iam_admin_api import iam_admin_routes
from cloudgate.emulator.control.iap_api import iap_routes
from cloudgate.emulator.control.projects_api import project_routes
from cloudgate.emulator.control.run_api import run_routes
from cloudgate.emulator.control.run_v2_api import run_v2_routes
from cloudgate.emulator.control.secrets_api import secret_routes
from cloudgate.emulator.control.workload_pools_api import workload_pool_routes
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.state import remove_address, write_address
from cloudgate.emulator.hosts import LocalHostGuard
from cloudgate.emulator.identity.iam_credentials_api import iam_routes
from cloudgate.emulator.identity.iap_keys_api import iap_key_routes
from cloudgate.emulator.identity.metadata import metadata_routes
from cloudgate.emulator.identity.oidc_issuer import oidc_routes
from cloudgate.emulator.identity.sts_api import sts_routes
from cloudgate.emulator.identity.token_api import token_routes
from cloudgate.emulator.serving.listeners import QuietServer, bind, quiet_server
from cloudgate.emulator.serving.revisions import DEFAULT_IDLE_SECONDS, RevisionRuntime
from cloudgate.emulator.tls_proxy import GatewayStarter, TlsProxy, remove_proxy_address, write_proxy_address
from cloudgate.errors import EmulatorError

logger = logging.getLogger(__name__)

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names to leave out, not addresses to bind


def google_app(ctx: EmulatorContext) -> Starlette:
    """Google's endpoints for one emulator context, as one ASGI app (loopback names and its own host only)."""
    routes: list[BaseRoute] = [*token_routes(ctx), *iam_routes(ctx), *metadata_routes(ctx), *admin_routes(ctx)]
    routes += oidc_routes(ctx)  # the stand-in CI issuers' discovery documents and keys
    routes += iap_key_routes(ctx)  # IAP's public keys, at www.gstatic.com's paths
    # The admin APIs gcloud calls, each under its own prefix (``api_endpoint_overrides/<api>`` points there).
    routes += [
        Mount("/run", routes=[*run_routes(ctx), *run_v2_routes(ctx)]),
        Mount("/iam", routes=[*iam_admin_routes(ctx), *workload_pool_routes(ctx)]),
        Mount("/sts", routes=sts_routes(ctx)),
        Mount("/iamcredentials", routes=iam_routes(ctx)),
        Mount("/secretmanager", routes=secret_routes(ctx)),
        Mount("/cloudresourcemanager", routes=project_routes(ctx)),
        Mount("/iap", routes=iap_routes(ctx)),
    ]
    own = urlsplit(ctx.base_url).hostname or ""
    # A wildcard bind address is no name a client would send; only a concrete one is added.
    extra = [] if own in _WILDCARDS else [own]
    return Starlette(
        routes=routes,
        middleware=[Middleware(LocalHostGuard, extra_names=extra)],
        exception_handlers={ApiError: api_error_handler, 404: unrouted_handler, 405: unrouted_handler},
    )


def run(state_dir: Path, **options: Any) -> None:
    """``serve`` on a fresh event loop (uvloop when installed: it shaves the front end's added latency)."""
    import importlib.util

    backend_options = {"use_uvloop": True} if importlib.util.find_spec("uvloop") else {}
    anyio.run(functools.partial(serve, state_dir, **options), backend_options=backend_options)


async def serve(
    state_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8089,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
    on_ready: Callable[[EmulatorContext], Awaitable[None]] | None = None,
) -> None:
    """Run the emulator until SIGINT/SIGTERM; ``on_ready`` runs once Google's side listens.

    ``on_ready`` may call the emulator's own API (``cloudgate dev`` deploys its service through it); if it
    raises ``EmulatorError``, the emulator stops as on a signal and the error is raised again.
    """
    google_socket = bind(host, port)
    ctx = EmulatorContext.open(state_dir, f"http://{host}:{port}")
    ctx.keys.current_kid  # noqa: B018 - create the first signing key now, not on the first request
    ctx.iap_signing_keys().kid  # noqa: B018 - and IAP's
    stop = anyio.Event()
    failure: EmulatorError | None = None
    google = quiet_server(google_app(ctx), graceful=5, http="h11")
    watcher = anyio.CancelScope()
    proxying = anyio.CancelScope()
    runtime: RevisionRuntime | None = None
    gateway: GatewayStarter | None = None
    try:
        # The HTTPS proxy for Google's API hosts (tls_proxy.py), on a free port recorded in the state folder.
        proxy_listener = await anyio.create_tcp_listener(local_host=host, local_port=0)
        gateway = GatewayStarter(ctx.base_url if host not in _WILDCARDS else f"http://127.0.0.1:{port}")
        if not gateway.available:
            logger.warning("grpcio is not installed: gRPC client libraries cannot reach the emulator")
        authority = EmulatorCA.open(state_dir)
        grpc_context = authority.server_context() if gateway.available else None
        proxy = TlsProxy(google_app(ctx), authority.server_context(), grpc_gateway=gateway, grpc_context=grpc_context)
        async with anyio.create_task_group() as tg:
            tg.start_soon(google.serve, [google_socket])
            tg.start_soon(_serve_proxy, proxying, proxy_listener, proxy)
            async with anyio.create_task_group() as front_group:
                runtime = RevisionRuntime(ctx, front_group, host=host, idle_seconds=idle_seconds)
                ctx.runtime = runtime
                tg.start_soon(_watch_signals, watcher, stop, google, runtime)
                runtime.resume()
                while not google.started:
                    if google.should_exit:
                        raise EmulatorError("the emulator could not start its servers")
                    await anyio.sleep(0.02)
                logger.info("emulator ready at %s", ctx.base_url)
                write_address(state_dir, ctx.base_url, iap_jwks=ctx.iap_jwks_url)
                proxy_port = proxy_listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio
                write_proxy_address(state_dir, f"http://{host}:{proxy_port}")
                if on_ready is not None:
                    failure = await _until_stopped(on_ready(ctx), stop)
                if failure is None:
                    await stop.wait()
                # Cloud Run's order: stop routing new requests, SIGTERM the containers, let in-flight ones finish.
                front_group.start_soon(runtime.aclose)
            google.should_exit = True
            watcher.cancel()
            proxying.cancel()
    finally:
        remove_address(state_dir)
        remove_proxy_address(state_dir)
        if gateway is not None:
            gateway.stop()
        if runtime is not None:
            with anyio.CancelScope(shield=True):
                await runtime.aclose()  # after a crash too: no instance outlives the emulator
        google_socket.close()
    if failure is not None:
        raise failure


async def _serve_proxy(scope: anyio.CancelScope, listener: anyio.abc.Listener[Any], proxy: TlsProxy) -> None:
    """The HTTPS proxy's connections, until cancelled."""
    with scope:
        async with listener:
            await listener.serve(proxy.handle)
    await proxy.aclose()


async def _until_stopped(work: Awaitable[None], stop: anyio.Event) -> EmulatorError | None:
    """Run ``work`` until it ends or a stop signal comes; its ``EmulatorError``, if any."""
    async with anyio.create_task_group() as group:

        async def cancel_on_stop() -> None:
            await stop.wait()
            group.cancel_scope.cancel()

        group.start_soon(cancel_on_stop)
        try:
            await work
        except EmulatorError as exc:
            return exc
        finally:
            group.cancel_scope.cancel()
    return None


async def _watch_signals(
    scope: anyio.CancelScope, stop: anyio.Event, google: QuietServer, runtime: RevisionRuntime
) -> None:
    """The first SIGINT/SIGTERM stops gracefully; a second one stops without waiting for requests."""
    with scope, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if stop.is_set():
                logger.warning("second %s: not waiting for in-flight requests", signal.Signals(signum).name)
                google.force_exit = True
                runtime.force_exit()
                continue
            logger.info("received %s: stopping", signal.Signals(signum).name)
            stop.set()
