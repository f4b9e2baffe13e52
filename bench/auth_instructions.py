"""Instructions the server executes per request on each route of bench/_auth_app.py: ``auth_overhead.py``'s
ratios, counted by callgrind instead of timed, so they do not depend on the machine's load.

A real ``cloudgate serve bench._auth_app:create_app`` runs under ``valgrind --tool=callgrind`` (uvicorn,
httptools, the ASGI layer, FastAPI, cloudgate: everything the server process does for a request), once per
identity mode, with the same headers ``auth_overhead.py`` sends. For each route, after a warm-up, the counters are
zeroed (``callgrind_control -z``), this process sends ``requests`` requests one after another on one keep-alive
connection (the client is not under valgrind, so it does not count), and the counters are dumped
(``callgrind_control -d``): instructions per request, and the unprotected route's over the route's, the ratio
``auth_overhead.py``'s CPU column estimates. Instructions are not CPU time (cache misses and branch
mispredictions are not counted; valgrind's simulated CPU has no SHA extensions, so a SHA-256 counts several times
what it costs on a CPU that has them), but they move by only 1-2% between runs, whatever else the machine does
(the garbage collector's passes fall in one route's window or another's).

Needs valgrind (``apt-get install valgrind``). Writes ``bench/results/auth_instructions.json``.
Usage: ``python bench/auth_instructions.py [requests] [--mode verify|cloud-run] [--keep DIR]`` (default 300
requests, both modes, about 4 minutes each; ``--keep`` keeps each route's dump for ``callgrind_annotate``).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.service_env import AUDIENCE, certs_server, new_signing_key
from tests.support import CLOUDGATE, Drain, free_port, start_process

from bench.auth_overhead import routes
from cloudgate.service.keys import open_keystore

RESULTS = Path(__file__).resolve().parent / "results"
WARM_UP = 20


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> None:
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise SystemExit(f"{path}: {answer.status} {body[:200]!r}")


def _totals(dump: Path) -> int:
    """The instruction count of a callgrind dump: its ``summary:`` line (the ``totals:`` line at the end of the first
    dump also counts costs from before the counters were zeroed)."""
    found = re.search(r"^summary:\s+(\d+)", dump.read_text(), re.M)
    if found is None:
        raise SystemExit(f"no totals in {dump}")
    return int(found.group(1))


def _control(flag: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120)


def measure(
    mode: str, requests: int, keystore: str, api_key: str, certs_url: str, token: str, keep: Path | None = None
) -> dict[str, dict[str, float]]:
    port = free_port()
    env = {
        "CLOUDGATE_KEYSTORE": keystore,
        "CLOUDGATE_IDENTITY": mode,
        "CLOUDGATE_CERTS_URL": certs_url,
        "CLOUDGATE_AUDIENCES": AUDIENCE,
        "CLOUDGATE_LOG_LEVEL": "warning",
        "PORT": str(port),
    }
    out = Path(tempfile.mkdtemp(prefix="cloudgate-callgrind-"))
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}/callgrind.out.%p",
        "--dump-instr=no",
        "--compress-strings=no",
        sys.executable,
        CLOUDGATE,
        "serve",
        "bench._auth_app:create_app",
    ]
    proc = start_process(argv, env=env, cwd=Path(__file__).resolve().parent.parent)
    drain = Drain(proc)
    results: dict[str, dict[str, float]] = {}
    try:
        drain.wait_for_port(port, timeout=600)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for name, (path, headers) in routes(api_key, token, mode).items():
            if name.startswith("tutorial"):
                continue  # verifies per call: auth_overhead.py shows it at 0.1x; not worth valgrind's time
            for _ in range(WARM_UP):
                _get(conn, path, headers)
            _control("-z", proc.pid)
            before = set(out.iterdir())
            for _ in range(requests):
                _get(conn, path, headers)
            _control("-d", proc.pid)
            deadline = time.monotonic() + 60
            while not (dumps := set(out.iterdir()) - before) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not dumps:
                raise SystemExit("callgrind wrote no dump")
            time.sleep(0.5)  # let callgrind finish writing it
            dump = dumps.pop()
            results[name] = {"instructions_per_request": _totals(dump) / requests}
            if keep is not None:  # for callgrind_annotate: where each route's instructions go
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(dump, keep / f"{mode}.{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.callgrind")
        conn.close()
    finally:
        drain.stop()
        shutil.rmtree(out, ignore_errors=True)
    base = results["unprotected"]["instructions_per_request"]
    for run in results.values():
        run["ratio"] = round(base / run["instructions_per_request"], 3)
    return results


def main() -> None:
    args = sys.argv[1:]
    keep = Path(args[args.index("--keep") + 1]) if "--keep" in args else None
    modes = [args[args.index("--mode") + 1]] if "--mode" in args else ["cloud-run", "verify"]
    numbers = [a for a in args if a.isdigit()]
    requests = int(numbers[0]) if numbers else 300
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("skipped: this benchmark needs valgrind (apt-get install valgrind)")  # make bench goes on without it
        return
    root = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    keystore = f"sqlite:///{root / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    signing = new_signing_key("bench")
    token = signing.sign()
    results: dict[str, dict[str, dict[str, float]]] = {}
    with certs_server([signing]) as certs_url:
        for mode in modes:
            results[mode] = measure(mode, requests, keystore, api_key, certs_url, token, keep)
    print(f"{'identity mode / route':66} {'instr/req':>10} {'ratio':>6}")
    for mode, table in results.items():
        for name, run in table.items():
            print(f"{mode + ': ' + name:66} {run['instructions_per_request']:10.0f} {run['ratio']:5.3f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth_instructions.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
