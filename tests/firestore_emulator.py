"""The real Firestore emulator of the Cloud SDK for tests: one per session, on a free 127.0.0.1 port.

Started as ``gcloud emulators firestore start --host-port=127.0.0.1:PORT`` with a throwaway gcloud config, stopped
with its whole process group (gcloud starts a Java server underneath). A missing ``gcloud``, emulator component
(``google-cloud-cli-firestore-emulator``) or Java fails the test saying what to install: a skip would hide that the
Firestore key store went untested.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support import Drain, free_port, start_process, wait_for_port

_START_TIMEOUT_S = 90.0


def _missing() -> str | None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return "gcloud is not on the PATH (install the Cloud SDK, package google-cloud-cli)"
    root = Path(gcloud).resolve().parent.parent
    if not (root / "platform" / "cloud-firestore-emulator").is_dir():
        return f"the Firestore emulator is not installed under {root} (package google-cloud-cli-firestore-emulator)"
    if shutil.which("java") is None:
        return "java is not on the PATH (the Firestore emulator needs Java 17+: package openjdk-17-jre-headless)"
    return None


class FirestoreEmulator:
    """One running emulator; ``host`` is the value for ``FIRESTORE_EMULATOR_HOST``."""

    def __init__(self, drain: Drain, port: int) -> None:
        self.drain = drain
        self.port = port
        self.host = f"127.0.0.1:{port}"

    @classmethod
    def start(cls, folder: Path) -> FirestoreEmulator:
        problem = _missing()
        if problem:
            pytest.fail(f"the Firestore key store tests need the real Firestore emulator: {problem}")
        port = free_port()
        config = folder / "gcloud-config"
        config.mkdir()
        env = {"CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        argv = ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}"]
        proc = start_process(argv, env=env, cwd=folder)
        drain = Drain(proc)
        emulator = cls(drain, port)
        try:
            wait_for_port(port, proc=None, timeout=_START_TIMEOUT_S)
        except TimeoutError:
            output = emulator.stop()
            pytest.fail(f"the Firestore emulator did not listen within {_START_TIMEOUT_S:g}s:\n{output}")
        emulator._warm_up()
        return emulator

    def _warm_up(self) -> None:
        """One write and one read, so the JVM's first slow calls are not charged to a test."""
        from cloudgate.service.keys.firestore import FirestoreKeyStore

        saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.host
        try:
            store = FirestoreKeyStore("firestore://demo-cloudgate/warm-up")
            record, _ = store.create("warm-up", [])
            store.get(record.key_id)
            store.close()
        finally:
            if saved is None:
                del os.environ["FIRESTORE_EMULATOR_HOST"]
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = saved

    def stop(self) -> str:
        """SIGTERM to the whole group (gcloud and its Java server), SIGKILL if it lingers; returns the output."""
        proc = self.drain.proc
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the Java server may outlive gcloud's wrapper
        return self.drain.stop(timeout=5)


def fresh_collection_url() -> str:
    """A key store URL on a collection no other test uses (the emulator is shared by the session)."""
    return f"firestore://demo-cloudgate/keys-{uuid.uuid4().hex[:12]}"
