"""A real ``cloudgate serve`` behind the real emulator front end, each its own process, for load tests.

- The service: ``cloudgate serve APP`` on a free 127.0.0.1 port with its own SQLite key store (keys are made here),
  identity in ``cloud-run`` mode (it reads the claims the front end forwards) and ``K_SERVICE`` set, as on Cloud Run.
- The front end: ``cloudgate emulator run --upstream <service>``, Cloud Run's IAM check in front of it, with an
  invoker service account whose key file gives real google-auth ID tokens for the front end's URL.

Both pids are known, so a test can read their RSS (``/proc/PID/status``) and signal the service alone, as Cloud Run
signals a container.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import google.auth.transport.requests
from google.oauth2 import service_account

from cloudgate.emulator.core.state import StateStore
from cloudgate.service.keys import open_keystore
from tests.e2e.stack import add_invoker, start_front_end
from tests.support import CLOUDGATE, Drain, free_port, start_process

SERVICE = "load"
#: What a service process printed that no run may print (an unhandled error reached uvicorn or the front end).
_BROKEN = re.compile(r"Traceback|Exception in ASGI application")


def rss_bytes(pid: int) -> int:
    """The process's resident set size now, from ``/proc/PID/status`` (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}")


@dataclass
class FrontEndStack:
    url: str
    service_url: str
    folder: Path
    keystore: str
    invoker_key: Path
    invoker_email: str
    service: subprocess.Popen[bytes]
    emulator: subprocess.Popen[bytes]
    service_log: Drain
    emulator_log: Drain
    env: dict[str, str] = field(default_factory=dict)

    def id_token(self) -> str:
        """A fresh ID token for the front end's URL, minted by google-auth from the invoker's key file."""
        credentials = service_account.IDTokenCredentials.from_service_account_file(
            str(self.invoker_key), target_audience=self.url
        )
        credentials.refresh(google.auth.transport.requests.Request())
        return str(credentials.token)

    def create_key(self, name: str, scopes: Sequence[str]) -> tuple[str, str]:
        """A new API key in the service's store: ``(key_id, secret)``."""
        store = open_keystore(self.keystore)
        try:
            record, secret = store.create(name, list(scopes))
        finally:
            store.close()
        return record.key_id, secret

    def headers(self, api_key: str) -> dict[str, str]:
        """What a caller sends: the ID token where Cloud Run checks it first, and the API key."""
        return {"X-Serverless-Authorization": f"Bearer {self.id_token()}", "X-API-Key": api_key}

    def stop(self) -> tuple[str, str]:
        """SIGTERM both (SIGKILL if one hangs); everything each printed: ``(service, front end)``."""
        return self.service_log.stop(timeout=20), self.emulator_log.stop(timeout=20)


def start_front_end_stack(
    folder: Path, app: str, *, service_env: Mapping[str, str] | None = None, timeout_seconds: float = 300
) -> FrontEndStack:
    """``cloudgate serve app`` (``module:factory``, imported from the repository root) behind the front end.

    ``service_env`` is added to the service's environment (``CLOUDGATE_KEY_CACHE_SECONDS``...); the front end's
    request timeout is ``timeout_seconds``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    service_port, emulator_port, front_port = free_port(), free_port(), free_port()
    url, service_url = f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{service_port}"
    invoker_key = folder / "invoker.json"
    email = add_invoker(
        StateStore(folder / "emulator"), "load-invoker", invoker_key,
        token_uri=f"http://127.0.0.1:{emulator_port}/token", service=SERVICE, url=url, timeout_seconds=timeout_seconds,
    )  # fmt: skip

    keystore = f"sqlite:///{folder / 'keys.sqlite3'}"
    open_keystore(keystore).close()  # the service opens an existing store only
    env = {
        "CLOUDGATE_KEYSTORE": keystore,
        "CLOUDGATE_IDENTITY": "cloud-run",
        "CLOUDGATE_AUDIENCES": url,
        "CLOUDGATE_DATA_DIR": str(folder / "data"),
        "CLOUDGATE_SAMPLE_ROWS": "1000",
        "K_SERVICE": SERVICE,  # behind a front end that checks identities, as on Cloud Run
        **(service_env or {}),
    }
    argv = [CLOUDGATE, "serve", app, "--host", "127.0.0.1", "--port", str(service_port)]
    service_log = Drain(start_process(argv, env=env))
    try:
        service_log.wait_for_port(service_port, timeout=120)
        emulator_log = start_front_end(
            folder / "emulator", emulator_port=emulator_port, service_port=front_port, service=SERVICE,
            timeout_seconds=timeout_seconds, backend=["--upstream", service_url],
        )  # fmt: skip
    except BaseException:
        service_log.stop()
        raise
    service, emulator = service_log.proc, emulator_log.proc
    return FrontEndStack(
        url, service_url, folder, keystore, invoker_key, email, service, emulator, service_log, emulator_log, env
    )


def assert_nothing_broke(output: str) -> None:
    """No traceback and no unhandled ASGI error in a process's output."""
    found = _BROKEN.search(output)
    assert found is None, output[max(0, found.start() - 2000) : found.start() + 2000] if found else ""
