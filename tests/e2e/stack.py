"""Running stacks for end-to-end tests: the emulator with a front end, as real processes on free ports.

- ``start_front_end(...)``, ``add_invoker(...)``: the emulator with a front end, and a caller it lets in; the
  stacks here and in ``tests/load/front_end_stack.py`` are built from them.
- ``EmulatorStack.start(folder)``: ``cloudgate emulator run`` fronting the echo service
  (``cloudgate.emulator.serving.echo``), with an invoker account, an outsider account (no role), a user with
  token-creator on the invoker (authorized_user file), and the metadata server running as the invoker.
- ``DevStack.start(folder)``: ``cloudgate dev`` (the example service in Cloud Run mode), read from its
  ``session.json``.

Both expose the service ``url``, ``emulator_url``, key file paths and admin helpers (counters, faults,
token lifetime). Fixtures ``emulator_stack`` and ``dev_stack`` live in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.identity import iam
from cloudgate.google import INVOKER_ROLE
from tests.support import CLOUDGATE, Drain, free_port, start_process, stop_process

SERVICE = "dev"


def add_invoker(
    store: StateStore, account: str, key_file: Path, *, token_uri: str, service: str, url: str, timeout_seconds: float
) -> str:
    """A service account holding the invoker role on ``service`` (its front end at ``url``), its key file written
    to ``key_file`` (tokens from ``token_uri``); returns the account's email."""
    email = iam.create_account(store, account)
    key_file.write_text(json.dumps(iam.create_key(store, email, token_uri=token_uri)))
    iam.ensure_service(store, service, url=url, timeout_seconds=timeout_seconds)
    iam.grant_service_role(store, service, INVOKER_ROLE, f"serviceAccount:{email}")
    return email


def start_front_end(
    state_dir: Path,
    *,
    emulator_port: int,
    service_port: int,
    service: str,
    timeout_seconds: float,
    backend: Sequence[str],
) -> Drain:
    """``cloudgate emulator run``: Google's side on ``emulator_port`` and Cloud Run's front end for ``service`` on
    ``service_port``, in front of ``backend`` (``["--upstream", URL]``, or ``["--", *command]`` that it runs);
    returns once the service's revision serves (its front end answers 503 from the deploy until then)."""
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(state_dir), "--port", str(emulator_port),
        "--service-port", str(service_port), "--service-name", service, "--timeout", f"{timeout_seconds:g}",
        *backend,
    ]  # fmt: skip
    drain = Drain(start_process(argv))
    try:
        drain.wait_for(f"service {service}: http://127.0.0.1:{service_port}", timeout=120)
    except BaseException:
        drain.stop()
        raise
    return drain


@dataclass
class _Admin:
    """Helpers over the emulator's admin API."""

    emulator_url: str

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.emulator_url}/admin/counters").raise_for_status().json()
        return result

    def counter(self, name: str, label: str) -> int:
        return int(self.counters()[name].get(label, 0))

    def fail_next(self, count: int, status: int = 503) -> None:
        httpx.post(f"{self.emulator_url}/admin/faults", json={"count": count, "status": status}).raise_for_status()

    def set_token_lifetime(self, seconds: int) -> None:
        httpx.put(f"{self.emulator_url}/admin/settings", json={"token_lifetime_seconds": seconds}).raise_for_status()

    def instances(self) -> dict[str, list[dict[str, Any]]]:
        """Each scaled service's instances (name, url, state, in_flight, served)."""
        result: dict[str, list[dict[str, Any]]] = (
            httpx.get(f"{self.emulator_url}/admin/instances").raise_for_status().json()
        )
        return result

    def rotate_keys(self) -> str:
        return str(httpx.post(f"{self.emulator_url}/admin/keys/rotate").raise_for_status().json()["kid"])


@dataclass
class EmulatorStack(_Admin):
    """The emulator and a front end in front of the echo service, in one process group."""

    url: str = ""
    state_dir: Path = Path()
    invoker_key: Path = Path()
    outsider_key: Path = Path()
    user_credentials: Path = Path()
    invoker_email: str = ""
    outsider_email: str = ""
    user_email: str = "developer@example.com"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: Reads the output as it comes: a full pipe would stall the process's logging after a few hundred requests.
    drain: Drain | None = field(default=None, repr=False)

    @property
    def certs_url(self) -> str:
        return f"{self.emulator_url}/oauth2/v1/certs"

    @property
    def jwks_url(self) -> str:
        return f"{self.emulator_url}/oauth2/v3/certs"

    @property
    def store(self) -> StateStore:
        return StateStore(self.state_dir)

    @classmethod
    def start(cls, folder: Path, *, timeout_seconds: float = 300) -> EmulatorStack:
        folder.mkdir(parents=True, exist_ok=True)
        emulator_port, service_port = free_port(), free_port()
        stack = cls(
            emulator_url=f"http://127.0.0.1:{emulator_port}",
            url=f"http://127.0.0.1:{service_port}",
            state_dir=folder / "state",
            invoker_key=folder / "invoker.json",
            outsider_key=folder / "outsider.json",
            user_credentials=folder / "user.json",
        )
        store, token_uri = stack.store, f"{stack.emulator_url}/token"
        stack.invoker_email = add_invoker(
            store, "invoker-sa", stack.invoker_key, token_uri=token_uri, service=SERVICE, url=stack.url,
            timeout_seconds=timeout_seconds,
        )  # fmt: skip
        stack.outsider_email = iam.create_account(store, "outsider-sa")
        stack.outsider_key.write_text(json.dumps(iam.create_key(store, stack.outsider_email, token_uri=token_uri)))
        stack.user_credentials.write_text(json.dumps(iam.create_user(store, stack.user_email, token_uri=token_uri)))
        iam.grant_token_creator(store, stack.invoker_email, f"user:{stack.user_email}")
        with store.edit() as state:
            state.metadata_account = stack.invoker_email
        stack.drain = start_front_end(
            stack.state_dir, emulator_port=emulator_port, service_port=service_port, service=SERVICE,
            timeout_seconds=timeout_seconds, backend=["--", sys.executable, "-m", "cloudgate.emulator.serving.echo"],
        )  # fmt: skip
        stack.proc = stack.drain.proc
        return stack

    def set_timeout(self, seconds: int) -> None:
        """Deploy a revision with another request timeout (on Cloud Run it is the revision's), through the
        emulator's admin API as ``emulator run`` deployed the service; returns once that revision serves."""
        where = f"{self.emulator_url}/admin/services/{SERVICE}"
        service = httpx.get(where).raise_for_status().json()
        service["spec"]["template"]["spec"]["timeoutSeconds"] = seconds
        port = int(self.url.rsplit(":", 1)[1])
        httpx.put(where, json={"service": service, "port": port}, timeout=60).raise_for_status()
        deadline = time.monotonic() + 120
        while True:
            ready = [c for c in httpx.get(where).json()["status"]["conditions"] if c["type"] == "Ready"]
            if ready and ready[0]["status"] != "Unknown":
                assert ready[0]["status"] == "True", ready
                return
            assert time.monotonic() < deadline, "the new revision did not become ready"
            time.sleep(0.1)

    def stop(self) -> str:
        """SIGTERM (SIGKILL if it hangs) and everything the process printed."""
        if self.drain is not None:
            return self.drain.stop(timeout=20)
        return stop_process(self.proc, timeout=20) if self.proc else ""


@dataclass
class DevStack(_Admin):
    """``cloudgate dev`` as a real process, described by its ``session.json``."""

    url: str = ""
    session: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: Reads the output as it comes: a full pipe would stall the process's logging after a few hundred requests.
    drain: Drain | None = field(default=None, repr=False)

    @property
    def invoker_key(self) -> Path:
        return Path(self.session["invoker_key_file"])

    @property
    def outsider_key(self) -> Path:
        return Path(self.session["outsider_key_file"])

    @property
    def api_key(self) -> str:
        return str(self.session["api_key"])

    @property
    def docs_user(self) -> str:
        return str(self.session["docs_user"])

    @property
    def docs_password(self) -> str:
        return str(self.session["docs_password"])

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        timeout: float = 60.0,
        sample_rows: int = 1000,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> DevStack:
        """``cloudgate dev`` with ``args`` added (``--instances 3``...) and ``env`` added to its environment."""
        port, emulator_port = free_port(), free_port()
        argv = [
            CLOUDGATE, "dev", "--port", str(port), "--emulator-port", str(emulator_port),
            "--state-dir", str(folder), *args,
        ]  # fmt: skip
        # The service inherits this environment: the example's settings (app/settings.py) go to it this way.
        extra = {"CLOUDGATE_DATA_DIR": str(folder / "data"), **(env or {})}
        proc = start_process(argv, env={"CLOUDGATE_SAMPLE_ROWS": str(sample_rows), **extra})
        session_file = folder / "session.json"
        deadline = time.monotonic() + timeout
        while not session_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                output = stop_process(proc)
                raise RuntimeError(f"cloudgate dev did not become ready:\n{output}")
            time.sleep(0.1)
        session = json.loads(session_file.read_text())
        stack = cls(emulator_url=session["emulator_url"], url=session["url"], session=session, proc=proc)
        stack.drain = Drain(proc)
        return stack

    def stop(self) -> str:
        """SIGTERM (SIGKILL if it hangs) and everything the process printed."""
        if self.drain is not None:
            return self.drain.stop(timeout=20)
        return stop_process(self.proc, timeout=20) if self.proc else ""
