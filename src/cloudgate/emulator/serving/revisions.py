"""Revisions that run: the emulator's one data plane, for every Cloud Run service whoever made it.

``gcloud run deploy``, ``cloudgate deploy --emulator``, ``cloudgate dev`` and ``cloudgate emulator run -- CMD``
all make a Knative service in the state (the last two through the admin API's ``PUT /admin/services/NAME``);
this runtime runs its revisions. How a revision's container runs (podman, a local command, an upstream URL) is
``local_runners.py``'s. The model:

- a **service** has a URL (its own port, served by a ``CloudRunFrontend``) and at most one serving revision;
- a **revision** (``NAME-00002-xyz``) is an immutable template and has **instances**, in an ``InstancePool``
  scaled by the template as Cloud Run scales it: ``autoscaling.knative.dev/minScale`` and ``maxScale``
  (``--min-instances``/``--max-instances``; defaults 0 and 100) and ``containerConcurrency`` (``--concurrency``,
  default 80). Another instance starts when all are busy; idle ones above the minimum stop (``instances.py``);
- an **instance** is one running copy (a ``Runner`` listening on an internal port).

A rollout (``RevisionRuntime.rollout``) follows Cloud Run: the new revision's first instance (or its minimum)
starts with ``PORT`` set and must listen within its startup limit (the container's ``startupProbe``, else 240 s);
then it takes all the traffic and the previous revision's instances get SIGTERM, and SIGKILL 10 s later, while
requests already sent to them finish. A revision that exits or never listens fails the deploy (``Ready=False``
with Cloud Run's message) and the previous revision keeps serving. An emulator started again serves every
deployed service again, except those a command made for as long as it runs (``run.cloudgate.dev/made-by``).

Each revision runs as its service account: its ``GCE_METADATA_HOST``/``GCE_METADATA_IP``/``GCE_METADATA_ROOT``
point at ``/revisions/REVISION`` on the emulator, a metadata server answering as that account.

Secrets reach a revision as Cloud Run gives them: env vars resolved once at start, and mounted files that are
rewritten whenever a version is added or disabled (so a read gives the latest enabled version). A local-command
revision cannot have files at absolute paths, so its mounts live under ``$CLOUDGATE_MOUNT_ROOT`` (a mount path
``/secrets`` is ``$CLOUDGATE_MOUNT_ROOT/secrets``); an image revision (podman) gets them bind-mounted read-only at
their paths.
"""

from __future__ import annotations

import logging
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup

from cloudgate import knative
from cloudgate.emulator.core import run_services
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import allowed
from cloudgate.emulator.core.secret_store import access, write_private
from cloudgate.emulator.core.state import Service
from cloudgate.emulator.serving.frontend import CloudRunFrontend, Target
from cloudgate.emulator.serving.instances import InstancePool, InstanceStartError, Timings
from cloudgate.emulator.serving.listeners import QuietServer, bind, quiet_server
from cloudgate.emulator.serving.local_runners import MADE_BY, RunnerFactory, check, default_runner
from cloudgate.errors import EmulatorError, InvalidResourceError
from cloudgate.google import CLOUD_RUN_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)

#: How long an instance above its revision's minimum may stay idle before it stops (Cloud Run: up to 15 min).
DEFAULT_IDLE_SECONDS = 60.0
_NO_LISTEN = (
    "The user-provided container failed to start and listen on the port defined provided by the PORT={port} "
    "environment variable within the allocated timeout. {detail}"
)


@dataclass
class Revision:
    """An immutable template (``typed``, as ``cloudgate.knative`` parsed it; ``template`` is its JSON, for the
    runners) and its instances; ``mounts`` is where its secret files live."""

    name: str
    service: str
    template: dict[str, Any]
    typed: knative.RevisionTemplate
    mounts: Path
    pool: InstancePool | None = None
    reaper: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def secret_files(self) -> list[tuple[Path, str, str]]:
        """``(file, secret, version)`` for every mounted secret item."""
        return [(self.mounts / f.path.lstrip("/"), f.secret, f.version) for f in self.typed.container.secret_files]


@dataclass
class _Listener:
    """One URL: its socket, the front end answering on it and that front end's server."""

    socket: socket.socket
    frontend: CloudRunFrontend | None = None
    server: QuietServer | None = None


@dataclass
class _Running(_Listener):
    """A service: its URL, each tag's URL, and its running revisions (those ``status.traffic`` names)."""

    revisions: dict[str, Revision] = field(default_factory=dict)
    tags: dict[str, _Listener] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class RevisionRuntime:
    """Runs the revisions of every deployed service, in the emulator's event loop and task group."""

    def __init__(
        self,
        ctx: EmulatorContext,
        tg: TaskGroup,
        *,
        host: str = "127.0.0.1",
        make_runner: RunnerFactory = default_runner,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.idle_seconds = idle_seconds
        self._tg = tg
        self._make_runner = make_runner
        self._running: dict[str, _Running] = {}
        self._stopping: list[_Running] = []
        #: Set by ``aclose``: a revision that finishes starting after it is stopped at once, never served.
        self._closed = False
        self._revisions_dir = ctx.store.folder / "revisions"

    # -- the control plane's entry points -------------------------------------------------------------------

    def reserve_url(self, name: str, port: int = 0) -> str:
        """Listen on the service's URL from now on (so nobody takes its port); returns the URL.

        The URL stays the service's for as long as the emulator runs: once the service is deleted its front end
        answers 404, as Google's does, and a service made again with the same name gets the same URL.
        """
        if name not in self._running:
            self._running[name] = _Running(socket=self._bind(port))
            self._listen(name, self._running[name])
        return self._url(self._running[name])

    def reserve_tag_url(self, name: str, tag: str, port: int = 0) -> str:
        """The URL of tag ``tag`` of service ``name`` (a port of its own, kept like the service's)."""
        running = self._running[name]
        if tag not in running.tags:
            running.tags[tag] = _Listener(socket=self._bind(port))
            self._listen(name, running.tags[tag], tag=tag)
        return self._url(running.tags[tag])

    def rollout(self, name: str) -> None:
        """Start the service's new revision and route its traffic, in the background (the state says how)."""
        self._tg.start_soon(self._reconcile, name)

    def remove(self, name: str) -> None:
        """Stop the deleted service's revisions in the background; its URLs answer 404 from now on."""
        if name in self._running:
            self._tg.start_soon(self._reconcile, name)

    def secret_changed(self, secret_id: str) -> None:
        """Rewrite the mounted files of ``secret_id`` in every running revision (latest enabled version)."""
        for running in self._running.values():
            for revision in running.revisions.values():
                self._write_mounts(revision, only=secret_id)

    def resume(self) -> None:
        """After a restart: serve again every service the state says was deployed (same URL, newest revision)."""
        for name, service in self.ctx.store.current().services.items():
            if not service.resource or not service.status.get("latestCreatedRevisionName"):
                continue
            made_by = service.resource["metadata"].get("annotations", {}).get(MADE_BY)
            if made_by:  # it lived as long as that command: the command deploys it again when it runs
                with self.ctx.store.edit() as state:
                    revision = state.services[name].status["latestCreatedRevisionName"]
                    run_services.mark_failed(state.services[name], revision, f"It runs while `{made_by}` does.")
                continue
            port = int(service.url.rsplit(":", 1)[1])
            try:
                self.reserve_url(name, port)
                for tag, url in service.tag_urls.items():
                    self.reserve_tag_url(name, tag, int(url.rsplit(":", 1)[1]))
            except EmulatorError as exc:
                logger.error("cannot serve %s again: %s", name, exc)
                with self.ctx.store.edit() as state:
                    revision = state.services[name].status["latestCreatedRevisionName"]
                    run_services.mark_failed(state.services[name], revision, f"Its URL cannot be served again: {exc}.")
                continue
            with self.ctx.store.edit() as state:
                run_services.mark_deploying(state.services[name])
            self.rollout(name)

    def force_exit(self) -> None:
        """Close every front end without waiting for the requests in flight (a second stop signal)."""
        for running in [*self._running.values(), *self._stopping]:
            if running.server is not None:
                running.server.force_exit = True

    async def aclose(self) -> None:
        """Stop every front end and revision (the emulator is stopping)."""
        self._closed = True
        running, self._running = list(self._running.values()), {}
        self._stopping += running
        async with anyio.create_task_group() as tg:
            for entry in running:
                tg.start_soon(self._remove, entry)

    # -- rollout --------------------------------------------------------------------------------------------

    async def _reconcile(self, name: str) -> None:
        """Make the running revisions what the state asks: the newest one checked (it must listen), each
        revision ``status.traffic`` names running, the URL's requests split by its percents, each tag's URL on
        its revision; revisions no longer named (and all of a deleted service's) stop once the new split is on."""
        running = self._running.get(name)
        if running is None or self._closed:
            return
        async with running.lock:
            state = self.ctx.store.current()
            record = state.services.get(name)
            newest = record.status.get("latestCreatedRevisionName", "") if record is not None else ""
            if record is not None and newest and record.revisions.get(newest, {}).get("ready") == "Unknown":
                failure = await self._run_revision(running, record, newest, state.project_id)
                self._set_status(name, newest, failure=failure)
            if self._closed:
                return
            state = self.ctx.store.current()
            record = state.services.get(name)
            wanted = run_services.referenced_revisions(record) if record is not None and record.resource else set()
            for revision in sorted(wanted - set(running.revisions)):
                assert record is not None
                if revision in record.revisions:
                    await self._run_revision(running, record, revision, state.project_id)
            self._route(name, running, record)
            retired = [running.revisions.pop(r) for r in list(running.revisions) if r not in wanted]
            if record is not None:
                with self.ctx.store.edit() as current:
                    if name in current.services:
                        run_services.mark_routed(current.services[name])
        for stopped in retired:
            logger.info("revision %s of %s has no traffic: stopping it", stopped.name, name)
            await self._stop_revision(stopped)

    async def _run_revision(self, running: _Running, record: Service, name: str, project_id: str) -> str | None:
        """Start revision ``name`` of ``record`` (its first instance must listen); ``None``, or why it failed."""
        kept = record.revisions[name]
        template = {"metadata": {"name": name, "labels": kept["labels"], "annotations": kept["annotations"]},
                    "spec": kept["spec"]}  # fmt: skip
        service = record.resource["metadata"]["name"]
        try:
            typed = run_services.revision_template(record, name)
        except InvalidResourceError as exc:  # recorded by an older emulator that did not check it
            return str(exc)
        revision = Revision(name, service, template, typed, self._revisions_dir / name / "mounts")
        try:
            await self._start(revision, project_id)
        except (EmulatorError, ApiError, OSError) as exc:
            detail = exc.message if isinstance(exc, ApiError) else str(exc)
            logger.warning("revision %s failed: %s", name, detail)
            await self._stop_revision(revision)
            return detail
        if self._closed:  # it listened, but the emulator stopped meanwhile: nothing serves it any more
            await self._stop_revision(revision)
            return None
        running.revisions[name] = revision
        logger.info("revision %s of %s is running", name, service)
        return None

    async def _start(self, revision: Revision, project_id: str) -> None:
        container = revision.template["spec"]["containers"][0]
        self._check_secret_access(revision)
        env = {"K_SERVICE": revision.service, "K_REVISION": revision.name, "K_CONFIGURATION": revision.service}
        # The revision's own metadata server (as its service account), for google-auth and gcloud inside it.
        metadata = f"{urlsplit(self.ctx.base_url).netloc}/revisions/{revision.name}"
        env.update(GCE_METADATA_HOST=metadata, GCE_METADATA_IP=metadata, GCE_METADATA_ROOT=metadata)
        env.update(self._env(revision.typed.container))
        # The revision's folder is the owner's only; the mounts inside are readable by the container's user
        # (often not the emulator's), as Cloud Run's secret files are.
        revision.mounts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        revision.mounts.mkdir(exist_ok=True, mode=0o755)
        self._write_mounts(revision)
        annotations = dict(revision.typed.annotations)
        check(container, annotations)
        timings = Timings(idle_seconds=self.idle_seconds, startup_seconds=revision.typed.container.startup_seconds)
        folder = self._revisions_dir / revision.name / "instances"
        pool = InstancePool(
            revision.service,
            # Each instance has a folder of its own (TMPDIR, its copies): Cloud Run instances share no disk.
            lambda _name, own: self._make_runner(container, env, revision.mounts, annotations=annotations, folder=own),
            folder,
            self.ctx.counters,
            revision.typed.scaling,
            timings,
        )
        revision.pool = pool
        try:
            await pool.start(at_least=1)  # Cloud Run starts one instance to check the revision, even with min 0
        except InstanceStartError as exc:
            raise EmulatorError(_NO_LISTEN.format(port=exc.port, detail=exc.cause.capitalize() + ".")) from exc
        self._tg.start_soon(_reap, revision.reaper, pool)

    def _check_secret_access(self, revision: Revision) -> None:
        """Cloud Run refuses a revision whose service account may not read one of its secrets."""
        state = self.ctx.store.current()
        # Filled with the Compute default account when none is given; it holds roles/editor, as on Google.
        account = revision.typed.service_account
        if not account:
            return  # recorded before the emulator filled it: the Compute default account, as then
        container = revision.typed.container
        wanted = [s.secret for s in container.secret_env] + [f.secret for f in container.secret_files]
        for secret_id in dict.fromkeys(wanted):
            if not allowed(state, f"serviceAccount:{account}", "secretmanager.versions.access", f"secrets/{secret_id}"):
                raise ApiError(
                    403,
                    f"Permission denied on secret: projects/{state.project_number}/secrets/{secret_id} for Revision "
                    f"service account {account}. The service account used must be granted the 'Secret Manager "
                    "Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, project or higher "
                    "level.",
                )

    def _env(self, container: knative.Container) -> dict[str, str]:
        """The container's env vars, secrets resolved now (as at a Cloud Run instance's start)."""
        env = dict(container.env)
        for ref in container.secret_env:
            _, payload = access(self.ctx.store, ref.secret, ref.version)
            env[ref.env] = payload.decode("utf-8", "replace")
        return env

    def _write_mounts(self, revision: Revision, *, only: str | None = None) -> None:
        for path, secret, version in revision.secret_files():
            if only is not None and secret != only:
                continue
            try:
                _, payload = access(self.ctx.store, secret, version)
            except ApiError as exc:
                if only is None:
                    raise
                logger.warning("mounted secret %s of %s not updated: %s", secret, revision.name, exc.message)
                continue
            write_private(path, payload, mode=0o444, folder_mode=0o755)

    def _bind(self, port: int) -> socket.socket:
        sock = bind(self.host, port)
        sock.listen(128)
        return sock

    def _url(self, listener: _Listener) -> str:
        return f"http://{self.host}:{listener.socket.getsockname()[1]}"

    def _listen(self, name: str, listener: _Listener, *, tag: str = "") -> None:
        """Serve ``listener``'s URL with a front end of its own (no revision yet: 503; the service gone: 404)."""
        listener.frontend = CloudRunFrontend(self.ctx, name, tag=tag)
        listener.server = quiet_server(listener.frontend, graceful=CLOUD_RUN_SHUTDOWN_GRACE_S + 5, date_header=False)
        self._tg.start_soon(listener.server.serve, [listener.socket])

    def _route(self, name: str, running: _Running, record: Service | None) -> None:
        """Give each front end its revisions: the URL the percents of ``status.traffic``, a tag its revision."""
        traffic = record.status.get("traffic", []) if record is not None and record.resource else []
        split = [
            target
            for entry in traffic
            if entry.get("percent") and (target := self._target(running, entry["revisionName"], entry["percent"]))
        ]
        if running.frontend is not None:
            running.frontend.split = split  # the next request is split the new way
        tagged = {t["tag"]: self._target(running, t["revisionName"], 100) for t in traffic if t.get("tag")}
        for tag, listener in running.tags.items():
            if listener.frontend is not None:
                listener.frontend.split = [target] if (target := tagged.get(tag)) else []
        if split:
            self.ctx.instances[name] = max(split, key=lambda target: target.percent).pool
        else:
            self.ctx.instances.pop(name, None)

    @staticmethod
    def _target(running: _Running, revision: str, percent: int) -> Target | None:
        """Where a share of requests goes: the running revision's instances, its timeout and protocol."""
        runs = running.revisions.get(revision)
        if runs is None or runs.pool is None:
            return None
        typed = runs.typed
        return Target(runs.pool, int(percent), float(typed.timeout_seconds), typed.container.http2)

    def _set_status(self, name: str, revision: str, *, failure: str | None = None) -> None:
        with self.ctx.store.edit() as state:
            service = state.services.get(name)
            if service is None or service.status.get("latestCreatedRevisionName") != revision:
                return  # deleted or superseded meanwhile
            if failure is None:
                run_services.mark_ready(service, revision)
            else:
                run_services.mark_failed(service, revision, failure)

    async def _stop_revision(self, revision: Revision) -> None:
        revision.reaper.cancel()
        if revision.pool is not None:
            if self.ctx.instances.get(revision.service) is revision.pool:
                del self.ctx.instances[revision.service]
            await revision.pool.stop()
        shutil.rmtree(revision.mounts.parent, ignore_errors=True)

    async def _remove(self, running: _Running) -> None:
        for listener in (running, *running.tags.values()):
            if listener.server is not None:
                listener.server.should_exit = True
            else:
                listener.socket.close()
        revisions, running.revisions = list(running.revisions.values()), {}
        for revision in revisions:
            await self._stop_revision(revision)


async def _reap(scope: anyio.CancelScope, pool: InstancePool) -> None:
    """Stop the revision's idle instances above its minimum, until the revision stops."""
    with scope:
        await pool.run_reaper()
