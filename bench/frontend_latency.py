"""Latency the emulator's Cloud Run front end adds: p50/p99 direct vs through the front end, in the same run.

Starts the echo service on its own port and the emulator fronting it (``--upstream``), gets one ID token with
google-auth, then sends interleaved sequential requests (keep-alive) to both and prints the percentiles, the
difference and the ratio (also to ``bench/results/frontend_latency.json``). Run: ``.venv/bin/python bench/frontend_latency.py [requests]``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.identity import iam
from cloudgate.google import INVOKER_ROLE

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    folder = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    echo_port, emulator_port, front_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{front_port}"
    store = StateStore(folder / "state")
    email = iam.create_account(store, "bench-caller")
    key = iam.create_key(store, email, token_uri=f"http://127.0.0.1:{emulator_port}/token")
    iam.ensure_service(store, "bench", url=url)
    iam.grant_service_role(store, "bench", INVOKER_ROLE, f"serviceAccount:{email}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDGATE_", "GCE_"))}
    echo = subprocess.Popen(
        [sys.executable, "-m", "cloudgate.emulator.serving.echo"], env={**env, "PORT": str(echo_port)}
    )
    emulator = subprocess.Popen(
        [str(BIN / "cloudgate"), "emulator", "run", "--state-dir", str(folder / "state"), "--port", str(emulator_port),
         "--service-name", "bench", "--service-port", str(front_port), "--upstream", f"http://127.0.0.1:{echo_port}"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait(echo_port)
        wait(front_port)
        creds = service_account.IDTokenCredentials.from_service_account_info(key, target_audience=url)
        creds.refresh(google.auth.transport.requests.Request())
        headers = {"X-Serverless-Authorization": f"Bearer {creds.token}"}
        direct, front = [], []
        with httpx.Client() as client:
            for _ in range(200):  # warm-up: connections, caches
                client.get(f"http://127.0.0.1:{echo_port}/health")
                client.get(f"{url}/health", headers=headers)
            for _ in range(count):
                start = time.perf_counter()
                assert client.get(f"http://127.0.0.1:{echo_port}/health").status_code == 200
                direct.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                assert client.get(f"{url}/health", headers=headers).status_code == 200
                front.append((time.perf_counter() - start) * 1000)
        result = {"requests_each": count}
        for name, values in (("direct", direct), ("front_end", front)):
            result[f"{name}_p50_ms"] = round(percentile(values, 50), 3)
            result[f"{name}_p99_ms"] = round(percentile(values, 99), 3)
        for q in ("p50", "p99"):
            d, f = result[f"direct_{q}_ms"], result[f"front_end_{q}_ms"]
            result[f"added_{q}_ms"] = round(f - d, 3)
            result[f"ratio_{q}"] = round(f / d, 2)
        print(json.dumps(result, indent=2))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "frontend_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    finally:
        for proc in (emulator, echo):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
