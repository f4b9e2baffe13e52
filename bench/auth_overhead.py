"""Requests/s of authenticated routes against an unprotected route of the same app, in the same run.

A real ``cloudgate serve`` process (identity=verify, certs from a local server) is loaded with wrk
(``apt-get install wrk``) on 127.0.0.1; each route is measured in alternating rounds and the best round counts.
Prints requests/s and the ratio to the unprotected route. Usage: ``python bench/auth_overhead.py [seconds]``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service_env import AUDIENCE, certs_server, new_signing_key, serve

from cloudgate.service.keys import open_keystore

ROUNDS = 3
CONNECTIONS = 16


def wrk(url: str, seconds: int, headers: dict[str, str], cpu: int | None = None) -> float:
    """Requests/s; ``cpu`` pins wrk to that CPU (``taskset``)."""
    argv = [
        *(["taskset", "-c", str(cpu)] if cpu is not None else []),
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if match is None or non_2xx is not None:
        raise SystemExit(f"wrk run failed or saw errors:\n{out}")
    return float(match.group(1))


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    signing = new_signing_key("bench")
    token = signing.sign()
    routes = {
        "unprotected": ("/open", {}),
        "cloudgate: API key": ("/v1/whoami", {"X-API-Key": api_key}),
        "cloudgate: API key + verified token (cached)": (
            "/v1/whoami-google",
            {"X-API-Key": api_key, "Authorization": f"Bearer {token}"},
        ),
        "naive: Security deps + verify per call": (
            "/naive/whoami",
            {"X-API-Key": api_key, "Authorization": f"Bearer {token}"},
        ),
    }
    with certs_server([signing]) as certs_url:
        env = {
            "CLOUDGATE_KEYSTORE": keystore,
            "CLOUDGATE_IDENTITY": "verify",
            "CLOUDGATE_CERTS_URL": certs_url,
            "CLOUDGATE_AUDIENCES": AUDIENCE,
            "CLOUDGATE_LOG_LEVEL": "warning",
        }
        with serve("bench._auth_app:create_app", env) as served:
            for path, headers in routes.values():
                response = httpx.get(served.url + path, headers=headers)
                response.raise_for_status()
            best = dict.fromkeys(routes, 0.0)
            for _ in range(ROUNDS):
                for name, (path, headers) in routes.items():
                    best[name] = max(best[name], wrk(served.url + path, seconds, headers))
    base = best["unprotected"]
    print(f"{'route':48} {'req/s':>9} {'ratio':>6}")
    for name, rate in best.items():
        print(f"{name:48} {rate:9.0f} {rate / base:6.2f}x")


if __name__ == "__main__":
    main()
