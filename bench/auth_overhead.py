"""Requests/s and p50/p99 of authenticated routes against an unprotected route of the same app, in the same run.

A real ``cloudgate serve`` process is loaded with wrk (``scripts/system-deps.sh wrk``) from another process on
127.0.0.1, once per identity mode (``verify``: certs from a local server; ``cloud-run``: the token as Cloud Run
forwards it). Each route is measured in alternating rounds and the best round counts, so the ratios to the
unprotected route come from one run on one machine.

Requests/s on a shared machine swing with whatever else runs. So each run also reads the server process's own CPU
time (``/proc/PID/stat``) before and after, and divides by the requests wrk made: the server's CPU microseconds per
request, which other processes disturb far less. ``cpu_ratio`` (unprotected CPU/request over the route's) is the
throughput ratio the server reaches when the CPU is its limit, as on a Cloud Run instance under load.
Writes ``bench/results/auth_overhead.json``. Usage: ``python bench/auth_overhead.py [seconds] [rounds]``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service_env import AUDIENCE, certs_server, new_signing_key, serve

from cloudgate.google import SIGNATURE_REMOVED
from cloudgate.service.keys import open_keystore

ROUNDS = 3
CONNECTIONS = 16
RESULTS = Path(__file__).resolve().parent / "results"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def wrk(url: str, seconds: int, headers: dict[str, str], cpu: int | None = None) -> dict[str, float]:
    """``{"rps", "p50_ms", "p99_ms", "requests"}`` of one wrk run; exits on any non-2xx answer.

    ``cpu`` pins wrk to that CPU (``taskset``), as ``bench/http2_servers.py`` does.
    """
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    argv = [*pin, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    count = re.search(r"^\s+(\d+) requests in", out, re.M)
    if rate is None or p50 is None or p99 is None or count is None or "Non-2xx" in out:
        raise SystemExit(f"wrk run failed or saw errors:\n{out}")
    return {
        "rps": float(rate.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(count.group(1)),
    }


def routes(api_key: str, token: str, mode: str) -> dict[str, tuple[str, dict[str, str]]]:
    if mode == "cloud-run":  # what Cloud Run's IAM check forwards: the token with its signature replaced
        forwarded = token.rsplit(".", 1)[0] + "." + SIGNATURE_REMOVED
        both = {"X-API-Key": api_key, "X-Serverless-Authorization": f"Bearer {forwarded}"}
    else:
        both = {"X-API-Key": api_key, "Authorization": f"Bearer {token}"}
    return {
        "unprotected": ("/open", {}),
        # The same route sent the key and the token it ignores: what receiving those ~1.3 KB of headers costs the
        # server (parsing, the ASGI layer's scan), which every protected row below pays before any auth runs.
        "unprotected, sent the key + identity headers": ("/open", both),
        "API key (KeyCaller)": ("/v1/whoami", {"X-API-Key": api_key}),
        "API key + identity (Depends)": ("/v1/whoami-google", both),
        "API key + identity (route-level, CloudgateRoute)": ("/v1/whoami-route", both),
        "tutorial: Security(APIKeyHeader) + verify per call": (
            "/naive/whoami",
            {"X-API-Key": api_key, "Authorization": f"Bearer {token}"},
        ),
    }


def measure(
    mode: str, seconds: int, rounds: int, keystore: str, api_key: str, certs_url: str, token: str
) -> dict[str, dict]:
    env = {
        "CLOUDGATE_KEYSTORE": keystore,
        "CLOUDGATE_IDENTITY": mode,
        "CLOUDGATE_CERTS_URL": certs_url,  # the tutorial route verifies against it in both modes
        "CLOUDGATE_AUDIENCES": AUDIENCE,
        "CLOUDGATE_LOG_LEVEL": "warning",
    }
    table = routes(api_key, token, mode)
    best: dict[str, dict[str, float]] = {}
    cpu_us: dict[str, float] = {}
    with serve("bench._auth_app:create_app", env) as served:
        for path, headers in table.values():
            answer = httpx.get(served.url + path, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"{mode} {path}: {answer.status_code} {answer.text}")
        for _ in range(rounds):
            for name, (path, headers) in table.items():
                before = cpu_seconds(served.proc.pid)
                run = wrk(served.url + path, seconds, headers)
                used = (cpu_seconds(served.proc.pid) - before) / run["requests"] * 1e6
                cpu_us[name] = min(cpu_us.get(name, float("inf")), used)
                if name not in best or run["rps"] > best[name]["rps"]:
                    best[name] = run
    base, base_cpu = best["unprotected"]["rps"], cpu_us["unprotected"]
    return {
        name: {
            **run,
            "ratio": round(run["rps"] / base, 3),
            "server_cpu_us": round(cpu_us[name], 1),
            "cpu_ratio": round(base_cpu / cpu_us[name], 3),
        }
        for name, run in best.items()
    }


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: scripts/system-deps.sh wrk")
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    signing = new_signing_key("bench")
    token = signing.sign()
    results: dict[str, dict] = {}
    with certs_server([signing]) as certs_url:
        for mode in ("cloud-run", "verify"):
            results[mode] = measure(mode, seconds, rounds, keystore, api_key, certs_url, token)
    print(
        f"{'identity mode / route':66} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'CPU us':>7} {'ratio':>6}"
    )
    for mode, table in results.items():
        for name, run in table.items():
            label = f"{mode}: {name}"
            print(
                f"{label:66} {run['rps']:8.0f} {run['p50_ms']:7.2f} {run['p99_ms']:7.2f} {run['ratio']:5.2f}x"
                f" {run['server_cpu_us']:7.1f} {run['cpu_ratio']:5.2f}x"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth_overhead.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
