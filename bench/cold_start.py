"""Cold start as a process: from exec to the first authenticated 200 of the example service, against a bare FastAPI
hello app, both under uvicorn, in alternating rounds of one run.

- example service: ``cloudgate serve app.main:create_app`` (what the image runs), first 200 on ``/v1/whoami`` with
  an API key (so the key store is opened and the auth path imported);
- bare app: ``python -m uvicorn bench._hello_app:app``, first 200 on ``/hello``;
- cloudgate alone: ``cloudgate serve bench._hello_app:create_protected`` (the hello route behind ``protect()`` and
  ``KeyCaller``), first authenticated 200: cloudgate's own share, without the example service's data stack.

The ratio is of the medians (target <= 1.15x). Writes ``bench/results/cold_start.json``.
The container's cold start (``podman run`` to the first 200) is ``bench/container_cold_start.py``.
Usage: ``python bench/cold_start.py [rounds]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import CLOUDGATE, free_port  # noqa: E402

from cloudgate.service.keys import open_keystore  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SETTINGS = {"CLOUDGATE_SAMPLE_ROWS": "1000", "CLOUDGATE_LOG_LEVEL": "warning", "CLOUDGATE_IDENTITY": "off"}


def first_200(argv: list[str], env: dict[str, str], port: int, path: str, headers: dict[str, str]) -> float:
    """Seconds from starting ``argv`` to its first 200 on ``path``; the process is stopped afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"{argv} exited with {proc.returncode} before answering")
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=1)
                    if answer.status_code == 200:
                        return time.perf_counter() - started
                    raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
                except httpx.TransportError:
                    time.sleep(0.005)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    keystore = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cloudgate-bench-')) / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    service, bare, hello = [], [], []
    for _ in range(rounds):
        port = free_port()
        env = {
            **os.environ,
            **SETTINGS,
            "PORT": str(port),
            "CLOUDGATE_APP_DIR": str(ROOT),
            "CLOUDGATE_KEYSTORE": keystore,
        }
        argv = [CLOUDGATE, "serve", "app.main:create_app"]
        service.append(first_200(argv, env, port, "/v1/whoami", {"X-API-Key": api_key}))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "uvicorn", "bench._hello_app:app", "--port", str(port), "--log-level", "warning"]
        bare.append(first_200(argv, env, port, "/hello", {}))
        port = free_port()
        env = {
            **os.environ,
            **SETTINGS,
            "PORT": str(port),
            "CLOUDGATE_APP_DIR": str(ROOT),
            "CLOUDGATE_KEYSTORE": keystore,
        }
        argv = [CLOUDGATE, "serve", "bench._hello_app:create_protected"]
        hello.append(first_200(argv, env, port, "/hello", {"X-API-Key": api_key}))
    result = {
        "rounds": rounds,
        "service_s": statistics.median(service),
        "bare_s": statistics.median(bare),
        "protected_hello_s": statistics.median(hello),
        "service_runs_s": service,
        "bare_runs_s": bare,
        "protected_hello_runs_s": hello,
    }
    result["ratio"] = round(result["service_s"] / result["bare_s"], 3)
    result["protected_hello_ratio"] = round(result["protected_hello_s"] / result["bare_s"], 3)
    print(f"process start to first 200, median of {rounds} rounds:")
    print(f"  example service, authenticated /v1/whoami: {result['service_s']:.2f} s")
    print(f"  bare FastAPI hello app, /hello:            {result['bare_s']:.2f} s")
    print(f"  hello app behind protect(), KeyCaller:     {result['protected_hello_s']:.2f} s")
    print(f"  ratio example service / bare: {result['ratio']:.2f}x (target <= 1.15x)")
    print(f"  ratio protected hello / bare: {result['protected_hello_ratio']:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
