"""The emulator's control plane with the real gcloud: one emulator and one throwaway gcloud config per test module.

``GcloudStack.start(folder)`` runs ``cloudgate emulator run`` (Google's side only, no fixed service) and
``cloudgate emulator gcloud-env`` for it, then offers:

- ``stack.gcloud("run", "deploy", ...)``: the real gcloud with exactly the printed environment (nothing of the
  machine's gcloud config); returns the ``CompletedProcess`` (``check=False`` to look at a failure);
- ``stack.deploy(name, *flags)``: ``gcloud run deploy`` of a local-command revision (``python -m MODULE``, the
  echo service by default) and the service URL;
- ``stack.cloudgate(...)``, ``stack.account(name, folder)``: ``cloudgate emulator`` commands on this emulator, and
  a new service account with its key file;
- ``stack.env``: the ``CLOUDSDK_*`` variables, for a tool under test that runs gcloud itself.

The fixture ``gcloud_stack`` (module scope) lives in ``tests/e2e/conftest.py``. gcloud costs 1-2 s per call:
keep a module's calls few and share its services between tests where the behaviours allow it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.stack import _Admin
from tests.support import CLOUDGATE, Drain, clean_env, free_port, start_process, stop_process, wait_for_port

#: The image that makes a revision a local command (``cloudgate.knative.LOCAL_COMMAND_IMAGE``).
LOCAL_COMMAND_IMAGE = "cloudgate/local-command"


@dataclass
class GcloudStack(_Admin):
    """A running emulator and the gcloud environment that talks to it."""

    state_dir: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    drain: Drain | None = field(default=None, repr=False)

    @property
    def project(self) -> str:
        return self.env["CLOUDSDK_CORE_PROJECT"]

    @classmethod
    def start(cls, folder: Path) -> GcloudStack:
        port = free_port()
        state_dir = folder / "state"
        argv = [CLOUDGATE, "emulator", "run", "--state-dir", str(state_dir), "--port", str(port)]
        proc = start_process(argv)
        wait_for_port(port, proc=proc)
        stack = cls(emulator_url=f"http://127.0.0.1:{port}", state_dir=state_dir, proc=proc)
        stack.drain = Drain(proc)
        printed = subprocess.run(
            [CLOUDGATE, "emulator", "gcloud-env", "--state-dir", str(state_dir), "--config-dir", str(folder / "gcloud")],
            env=clean_env(), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        for line in printed.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            stack.env[name] = shlex.split(value)[0]
        return stack

    def gcloud(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real gcloud against the emulator; with ``check``, a failure fails the test with its stderr."""
        done = subprocess.run(
            ["gcloud", *args], env=clean_env(**self.env), input=stdin, capture_output=True, text=True, timeout=180
        )
        if check:
            assert done.returncode == 0, f"gcloud {' '.join(args)} failed:\n{done.stderr}"
        return done

    def deploy(self, name: str, *flags: str, module: str = "cloudgate.emulator.serving.echo") -> str:
        """``gcloud run deploy NAME`` of ``python -m MODULE`` as a local-command revision; returns the URL."""
        self.gcloud(
            "run", "deploy", name, f"--image={LOCAL_COMMAND_IMAGE}", f"--command={sys.executable}",
            f"--args=-m,{module}", *flags,
        )  # fmt: skip
        return self.url_of(name)

    def cloudgate(self, *args: str) -> str:
        """``cloudgate emulator ARGS --state-dir`` this stack's folder (the running emulator takes the change); its
        stdout. A failure fails the test with its stderr."""
        done = subprocess.run(
            [CLOUDGATE, "emulator", *args, "--state-dir", str(self.state_dir)],
            env=clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def account(self, name: str, folder: Path) -> tuple[str, Path]:
        """A new service account and its key file (in ``folder``, naming this emulator's token endpoint)."""
        email = self.cloudgate("accounts", "create", name)
        key = folder / f"{name}.json"
        self.cloudgate("accounts", "key", email, "--out", str(key), "--emulator-url", self.emulator_url)
        return email, key

    def url_of(self, name: str) -> str:
        return self.gcloud("run", "services", "describe", name, "--format=value(status.url)").stdout.strip()

    def stop(self) -> str:
        if self.drain is not None:
            return self.drain.stop(timeout=30)
        return stop_process(self.proc, timeout=30) if self.proc else ""
