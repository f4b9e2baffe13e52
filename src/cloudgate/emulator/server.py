"""Assembles the emulator and runs it: Google's endpoints on one port, a Cloud Run front end per service.

``google_app(ctx)`` is the ASGI app of Google's side (token endpoint, certs, IAM Credentials, metadata server,
admin API), answering only requests whose ``Host`` is a local name (``hosts.py``: no DNS rebinding). ``serve(...)`` binds the ports (127.0.0.1 by default), starts each service's runner on an internal
port, waits for everything to listen, calls ``on_ready``, and on SIGINT/SIGTERM stops cleanly: the front ends
finish their in-flight requests while the services get SIGTERM (SIGKILL after 10 s), then Google's side stops.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
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
from cloudgate.emulator.control.projects_api import project_routes
from cloudgate.emulator.control.run_api import run_routes
from cloudgate.emulator.control.secrets_api import secret_routes
from cloudgate.emulator.control.workload_pools_api import workload_pool_routes
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.state import remove_address, write_address
from cloudgate.emulator.hosts import LocalHostGuard
from cloudgate.emulator.identity.iam import ensure_service
from cloudgate.emulator.identity.iam_credentials_api import iam_routes
from cloudgate.emulator.identity.metadata import metadata_routes
from cloudgate.emulator.identity.oidc_issuer import oidc_routes
from cloudgate.emulator.identity.sts_api import sts_routes
from cloudgate.emulator.identity.token_api import token_routes
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from cloudgate.emulator.serving.instances import InstancePool, RunnerFactory, Scaling
from cloudgate.emulator.serving.listeners import QuietServer, bind, quiet_server
from cloudgate.emulator.serving.revisions import RevisionRuntime
from cloudgate.emulator.serving.runner import Runner, start_listening
from cloudgate.emulator.tls_proxy import TlsProxy, remove_proxy_address, write_proxy_address
from cloudgate.errors import EmulatorError
from cloudgate.google import CLOUD_RUN_DEFAULT_TIMEOUT_S, CLOUD_RUN_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names to leave out, not addresses to bind


def google_app(ctx: EmulatorContext) -> Starlette:
    """Google's endpoints for one emulator context, as one ASGI app (loopback names and its own host only)."""
    routes: list[BaseRoute] = [*token_routes(ctx), *iam_routes(ctx), *metadata_routes(ctx), *admin_routes(ctx)]
    routes += oidc_routes(ctx)  # the stand-in CI issuers' discovery documents and keys
    # The admin APIs gcloud calls, each under its own prefix (``api_endpoint_overrides/<api>`` points there).
    routes += [
        Mount("/run", routes=run_routes(ctx)),
        Mount("/iam", routes=[*iam_admin_routes(ctx), *workload_pool_routes(ctx)]),
        Mount("/sts", routes=sts_routes(ctx)),
        Mount("/iamcredentials", routes=iam_routes(ctx)),
        Mount("/secretmanager", routes=secret_routes(ctx)),
        Mount("/cloudresourcemanager", routes=project_routes(ctx)),
    ]
    own = urlsplit(ctx.base_url).hostname or ""
    # A wildcard bind address is no name a client would send; only a concrete one is added.
    extra = [] if own in _WILDCARDS else [own]
    return Starlette(
        routes=routes,
        middleware=[Middleware(LocalHostGuard, extra_names=extra)],
        exception_handlers={ApiError: api_error_handler, 404: unrouted_handler, 405: unrouted_handler},
    )


@dataclass
class ServiceSpec:
    """A service to front: where the front end listens, and either a runner or a running upstream URL."""

    name: str
    port: int
    runner: Runner | None = None
    upstream: str | None = None
    #: Scaled out: a runner per instance, made by this factory (``instances.py``); ``runner`` is then unused.
    make_runner: RunnerFactory | None = None
    scaling: Scaling = field(default_factory=Scaling)
    audiences: list[str] = field(default_factory=list)
    timeout_seconds: float = CLOUD_RUN_DEFAULT_TIMEOUT_S
    #: The service speaks h2c (``cloudgate serve --http2``), as with ``gcloud run deploy --use-http2``.
    http2: bool = False


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
    services: list[ServiceSpec] | None = None,
    on_ready: Callable[[EmulatorContext], None] | None = None,
) -> None:
    """Run the emulator until SIGINT/SIGTERM; ``on_ready`` is called once everything listens."""
    services = services or []
    google_socket = bind(host, port)
    front_sockets = [bind(host, spec.port) for spec in services]
    ctx = EmulatorContext.open(state_dir, f"http://{host}:{port}")
    ctx.keys.current_kid  # noqa: B018 - create the first signing key now, not on the first request
    runners = [spec.runner for spec in services if spec.runner is not None and spec.make_runner is None]
    pools: list[InstancePool] = []
    stop = anyio.Event()
    try:
        fronts: list[QuietServer] = []
        for spec in services:
            upstream: str | InstancePool | None = spec.upstream
            if spec.make_runner is not None:
                folder = state_dir / "instances" / spec.name
                pool = InstancePool(spec.name, spec.make_runner, folder, ctx.counters, spec.scaling)
                pools.append(pool)
                ctx.instances[spec.name] = pool
                await pool.start()
                upstream = pool
            elif spec.runner is not None:
                internal = await start_listening(spec.runner)
                upstream = f"http://127.0.0.1:{internal}"
            if upstream is None:
                raise EmulatorError(f"service {spec.name!r} has neither a command nor an upstream URL")
            ensure_service(
                ctx.store,
                spec.name,
                url=f"http://{host}:{spec.port}",
                audiences=spec.audiences,
                timeout_seconds=spec.timeout_seconds,
                http2=spec.http2,
            )
            frontend = CloudRunFrontend(ctx, spec.name, upstream)
            fronts.append(quiet_server(frontend, graceful=CLOUD_RUN_SHUTDOWN_GRACE_S + 5, date_header=False))
        google = quiet_server(google_app(ctx), graceful=5, http="h11")
        watcher = anyio.CancelScope()
        reapers = anyio.CancelScope()
        proxying = anyio.CancelScope()
        # The HTTPS proxy for Google's API hosts (tls_proxy.py), on a free port recorded in the state folder.
        proxy_listener = await anyio.create_tcp_listener(local_host=host, local_port=0)
        proxy = TlsProxy(google_app(ctx), EmulatorCA.open(state_dir).server_context())
        async with anyio.create_task_group() as tg:
            tg.start_soon(google.serve, [google_socket])
            tg.start_soon(_watch_signals, watcher, stop, [google, *fronts])
            tg.start_soon(_run_reapers, reapers, pools)
            tg.start_soon(_serve_proxy, proxying, proxy_listener, proxy)
            async with anyio.create_task_group() as front_group:
                for front, sock in zip(fronts, front_sockets, strict=True):
                    front_group.start_soon(front.serve, [sock])
                ctx.runtime = RevisionRuntime(ctx, front_group, host=host)
                ctx.runtime.resume()
                while not all(server.started for server in [google, *fronts]):
                    if google.should_exit or any(f.should_exit for f in fronts):
                        raise EmulatorError("the emulator could not start its servers")
                    await anyio.sleep(0.02)
                logger.info("emulator ready at %s", ctx.base_url)
                write_address(state_dir, ctx.base_url)
                proxy_port = proxy_listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio
                write_proxy_address(state_dir, f"http://{host}:{proxy_port}")
                if on_ready is not None:
                    on_ready(ctx)
                await _wait_for_stop(stop, runners)
                # Cloud Run's order: stop routing new requests, SIGTERM the container, let in-flight ones finish.
                for front in fronts:
                    front.should_exit = True
                front_group.start_soon(ctx.runtime.aclose)
                for runner in runners:
                    front_group.start_soon(_stop_runner, runner)
                reapers.cancel()
                for pool in pools:
                    front_group.start_soon(pool.stop)
            google.should_exit = True
            watcher.cancel()
            proxying.cancel()
        if not stop.is_set():
            died = next((r.returncode for r in runners if r.returncode is not None), None)
            raise EmulatorError(f"the service exited on its own (status {died}); it is not restarted")
    finally:
        remove_address(state_dir)
        remove_proxy_address(state_dir)
        for runner in runners:
            if runner.returncode is None:
                await anyio.to_thread.run_sync(runner.stop)
        with anyio.CancelScope(shield=True):
            for pool in pools:
                await pool.stop()
        for sock in [google_socket, *front_sockets]:
            sock.close()


async def _serve_proxy(scope: anyio.CancelScope, listener: anyio.abc.Listener[Any], proxy: TlsProxy) -> None:
    """The HTTPS proxy's connections, until cancelled."""
    with scope:
        async with listener:
            await listener.serve(proxy.handle)
    await proxy.aclose()


async def _run_reapers(scope: anyio.CancelScope, pools: list[InstancePool]) -> None:
    """Stop idle instances above each pool's minimum, until cancelled."""
    with scope:
        async with anyio.create_task_group() as group:
            for pool in pools:
                group.start_soon(pool.run_reaper)


async def _stop_runner(runner: Runner) -> None:
    await anyio.to_thread.run_sync(runner.stop)


async def _watch_signals(scope: anyio.CancelScope, stop: anyio.Event, servers: list[QuietServer]) -> None:
    """The first SIGINT/SIGTERM stops gracefully; a second one stops without waiting for requests."""
    with scope, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if stop.is_set():
                logger.warning("second %s: not waiting for in-flight requests", signal.Signals(signum).name)
                for server in servers:
                    server.force_exit = True
                continue
            logger.info("received %s: stopping", signal.Signals(signum).name)
            stop.set()


async def _wait_for_stop(stop: anyio.Event, runners: list[Runner]) -> None:
    """Until a stop signal, or until a service exits on its own (which is reported, never restarted)."""
    while not stop.is_set():
        for runner in runners:
            if runner.returncode is not None:
                logger.error("the service exited with status %s; stopping the emulator", runner.returncode)
                return
        with anyio.move_on_after(0.5):
            await stop.wait()
