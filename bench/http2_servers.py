"""uvicorn against the servers that speak h2c (granian, hypercorn), measured in one run; ratios to uvicorn.

Each server serves the auth benchmark's app (``bench/_auth_app.py``) through ``bench/_servers.py``, with cloudgate's
JSON logs and the same shutdown grace, started with ``PORT`` in its environment (Cloud Run's way). Measured:

- cold start: process start to the first 200 (median of a few starts);
- HTTP/1 requests/s with wrk on the unprotected route and the two cloudgate-protected ones (best of alternating
  rounds, the servers interleaved so that load from other processes hits them alike);
- h2c requests/s with h2load (Debian's nghttp2-client) for the servers that speak it;
- SIGTERM drain: a 2 s request in flight when SIGTERM arrives must still get its 200, and the process must exit
  within Cloud Run's 10 s;
- memory after the load (PSS of every process of the server, so pages a forked worker shares count once).

Usage: ``python bench/http2_servers.py [seconds per load run]``. Needs wrk and h2load
(``scripts/system-deps.sh wrk h2load``) and the servers (``pip install -e '.[http2]' hypercorn``).
"""

from __future__ import annotations

import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service_env import AUDIENCE, certs_server, new_signing_key
from tests.support import ROOT, Drain, free_port, start_process, wait_for_port

from bench.auth_overhead import wrk
from cloudgate.service.keys import open_keystore

SERVERS = ("uvicorn", "granian", "hypercorn")
H2C = ("granian", "hypercorn")
APP = "bench._auth_app:create_app"
ROUNDS = 3
STARTS = 5
CONNECTIONS = 16


#: Each server on one CPU, the load generator on the other: Cloud Run's default is 1 vCPU, and unpinned, a server
#: with more threads (granian's Rust runtime) wins CPU time from the load generator and other processes.
SERVER_CPU, LOAD_CPU = 1, 0


def _command(server: str) -> list[str]:
    return ["taskset", "-c", str(SERVER_CPU), sys.executable, str(ROOT / "bench" / "_servers.py"), server, APP]


@contextmanager
def _running(server: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes], Drain]]:
    port = free_port()
    proc = start_process(_command(server), env={**env, "PORT": str(port)}, cwd=ROOT)
    drain = Drain(proc)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        yield f"http://127.0.0.1:{port}", proc, drain
    finally:
        drain.stop()


def cold_start(server: str, env: dict[str, str]) -> float:
    """Seconds from process start to the first 200 on the unprotected route (median of STARTS)."""
    times = []
    for _ in range(STARTS):
        port = free_port()
        started = time.perf_counter()
        proc = start_process(_command(server), env={**env, "PORT": str(port)}, cwd=ROOT)
        drain = Drain(proc)
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/open", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if proc.poll() is not None:
                        raise SystemExit(f"{server} exited during start:\n{drain.output}") from None
                    time.sleep(0.005)
            times.append(time.perf_counter() - started)
        finally:
            drain.stop()
    return statistics.median(times)


def h2load(url: str, seconds: int, headers: dict[str, str]) -> float:
    """Requests/s over h2c (prior knowledge), 16 connections with up to 8 streams each."""
    argv = ["taskset", "-c", str(LOAD_CPU), "h2load", f"-c{CONNECTIONS}", "-m8", "-t1", f"-D{seconds}"]
    argv.append("--warm-up-time=1")
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if rate is None or codes is None or any(int(n) for n in codes.groups()[1:]):
        raise SystemExit(f"h2load run failed or saw errors:\n{out}")
    return float(rate.group(1))


def drain_check(server: str, env: dict[str, str]) -> tuple[int | None, float, int | None]:
    """(status of a request in flight at SIGTERM, seconds from SIGTERM to exit, exit code)."""
    with _running(server, env) as (url, proc, _drain):
        result: dict[str, int] = {}

        def call() -> None:
            try:
                result["status"] = httpx.get(f"{url}/slow?seconds=2", timeout=15).status_code
            except httpx.HTTPError:
                result["status"] = 0

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)  # let the request reach the app (a benchmark, not a test: no condition to wait on)
        signalled = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.perf_counter() - signalled
        caller.join()
        return result.get("status"), took, code


def memory_mib(pid: int) -> float:
    """Proportional set size of a process and its children (granian forks a worker: shared pages count once)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    total_kib = 0
    for each in [pid, *(int(p) for p in children.split())]:
        rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        total_kib += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return total_kib / 1024


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    for tool in ("wrk", "h2load"):
        if shutil.which(tool) is None:
            raise SystemExit(f"this benchmark needs {tool}: scripts/system-deps.sh wrk h2load")
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    signing = new_signing_key("bench")
    routes = {
        "unprotected": ("/open", {}),
        "API key": ("/v1/whoami", {"X-API-Key": api_key}),
        "API key + token": ("/v1/whoami-google", {"X-API-Key": api_key, "Authorization": f"Bearer {signing.sign()}"}),
    }
    h1 = {(s, r): 0.0 for s in SERVERS for r in routes}
    h2 = {(s, r): 0.0 for s in H2C for r in routes}
    memory: dict[str, float] = {}
    with certs_server([signing]) as certs_url:
        env = {
            "CLOUDGATE_KEYSTORE": keystore,
            "CLOUDGATE_IDENTITY": "verify",
            "CLOUDGATE_CERTS_URL": certs_url,
            "CLOUDGATE_AUDIENCES": AUDIENCE,
            "CLOUDGATE_LOG_LEVEL": "warning",
        }
        starts = {server: cold_start(server, env) for server in SERVERS}
        drains = {server: drain_check(server, env) for server in SERVERS}
        for _ in range(ROUNDS):
            for server in SERVERS:
                with _running(server, env) as (url, proc, _drain):
                    for route, (path, headers) in routes.items():
                        httpx.get(url + path, headers=headers).raise_for_status()
                        h1[server, route] = max(
                            h1[server, route], wrk(url + path, seconds, headers, cpu=LOAD_CPU)["rps"]
                        )
                        if server in H2C:
                            h2[server, route] = max(h2[server, route], h2load(url + path, seconds, headers))
                    memory[server] = max(memory.get(server, 0.0), memory_mib(proc.pid))
    _report(routes, h1, h2, starts, drains, memory)


def _report(
    routes: dict[str, object],
    h1: dict[tuple[str, str], float],
    h2: dict[tuple[str, str], float],
    starts: dict[str, float],
    drains: dict[str, tuple[int | None, float, int | None]],
    memory: dict[str, float],
) -> None:
    print(f"{'HTTP/1 req/s (wrk)':34}" + "".join(f"{s:>22}" for s in SERVERS))
    for route in routes:
        base = h1["uvicorn", route]
        cells = "".join(f"{h1[s, route]:>12.0f} ({h1[s, route] / base:5.2f}x)" for s in SERVERS)
        print(f"  {route:32}{cells}")
    print(f"{'h2c req/s (h2load, vs uvicorn h1)':34}" + " " * 22 + "".join(f"{s:>22}" for s in H2C))
    for route in routes:
        base = h1["uvicorn", route]
        cells = "".join(f"{h2[s, route]:>12.0f} ({h2[s, route] / base:5.2f}x)" for s in H2C)
        print(f"  {route:32}{'-':>22}{cells}")
    base = starts["uvicorn"]
    print(
        f"{'cold start to first 200 (s)':34}"
        + "".join(f"{starts[s]:>12.3f} ({starts[s] / base:5.2f}x)" for s in SERVERS)
    )
    print(f"{'PSS after load (MiB, all procs)':34}" + "".join(f"{memory[s]:>22.0f}" for s in SERVERS))
    print(f"{'SIGTERM: in-flight status':34}" + "".join(f"{drains[s][0]!s:>22}" for s in SERVERS))
    print(
        f"{'SIGTERM: exit after (s), code':34}"
        + "".join(f"{drains[s][1]:>16.2f}, {drains[s][2]!s:>4}" for s in SERVERS)
    )
    print(f"{'listens on $PORT':34}" + "".join(f"{'yes':>22}" for s in SERVERS))


if __name__ == "__main__":
    main()
