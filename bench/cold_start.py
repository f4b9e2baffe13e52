"""Cold start as a process: from exec to the first authenticated 200 of the example service, against a bare FastAPI
hello app, all under uvicorn, in alternating rounds of one run.

- bare app: ``python -m uvicorn bench._hello_app:app``, first 200 on ``/hello`` (the baseline);
- cloudgate alone: ``cloudgate serve bench._hello_app:create_protected`` (the hello route behind ``protect()`` and
  ``KeyCaller``), first authenticated 200: cloudgate's own share, without the example service's data stack;
- example service: ``cloudgate serve app.main:create_app`` (what the image runs), first 200 on ``/v1/whoami`` with
  an API key (so the key store is opened and the auth path imported). This is the target's ratio;
- example service, first data request: the same, but the first request is a page of the sample dataset, which
  waits for what the service loads after it listens (DuckDB, the sample; ``app.warmup``);
- example service, first export: the same with an Arrow export as the first request (Arrow loaded too).

Each case starts in a fresh working folder (so the sample dataset is written each time, as on a fresh Cloud Run
instance). Medians per case; the ratios are to the bare app's median (targets: <= 1.20x for the example service, <= 1.10x for cloudgate alone).
Besides the wall time, the CPU time the server process had used by its first 200 (``/proc/PID/stat``, all its
threads): on a shared, loaded machine wall times swing with the load, the CPU a start-up needs much less.
Bytecode is compiled first (``compileall`` over the venv, ``src``, ``app`` and ``bench``), as the image does at
build time: with ``PYTHONDONTWRITEBYTECODE`` set (as on this machine), every start would otherwise compile every
module it imports, and the benchmark would measure the compiler. Writes ``bench/results/cold_start.json``. The container's cold start is ``bench/container_cold_start.py``.
Usage: ``python bench/cold_start.py [rounds]``.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import CLOUDGATE, free_port  # noqa: E402

from cloudgate.service.keys import open_keystore  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SETTINGS = {"CLOUDGATE_SAMPLE_ROWS": "1000", "CLOUDGATE_LOG_LEVEL": "warning", "CLOUDGATE_IDENTITY": "off"}
SERVICE = "app.main:create_app"


@dataclass(frozen=True)
class Case:
    """One way of starting a process and the request whose first 200 ends the clock."""

    name: str
    argv: list[str]  # ``{port}`` is replaced by the round's port
    path: str
    authenticated: bool = True
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "bare FastAPI hello app, /hello",
        [sys.executable, "-m", "uvicorn", "bench._hello_app:app", "--port", "{port}", "--log-level", "warning"],
        "/hello",
        authenticated=False,
        env={"PYTHONPATH": str(ROOT)},
    ),
    Case("hello app behind protect(), KeyCaller", [CLOUDGATE, "serve", "bench._hello_app:create_protected"], "/hello"),
    Case("example service, /v1/whoami", [CLOUDGATE, "serve", SERVICE], "/v1/whoami"),
    Case("example service, first request a page", [CLOUDGATE, "serve", SERVICE], "/v1/datasets/sample/rows?limit=1"),
    Case(
        "example service, first request an export",
        [CLOUDGATE, "serve", SERVICE],
        "/v1/datasets/sample/export?format=arrow",
    ),
]
BASELINE, TARGET = CASES[0].name, CASES[2].name


def wait_first_200(url: str, proc: subprocess.Popen[bytes], started: float, headers: dict[str, str]) -> float:
    """Seconds from ``started`` to the first 200 of ``url``; polls every 5 ms while nothing listens.

    One client for all the attempts: a new one per attempt (``httpx.get``) costs this process tens of ms of CPU
    (an SSL context each), taken from the server it times on a loaded machine.
    """
    with httpx.Client(timeout=30) as client:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{proc.args!r} exited with {proc.returncode} before answering")
            try:
                answer = client.get(url, headers=headers)
            except httpx.TransportError:
                time.sleep(0.005)
                continue
            if answer.status_code != 200:
                raise SystemExit(f"{url}: {answer.status_code} {answer.text[:300]}")
            return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process (all its threads) has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_200(case: Case, env: dict[str, str], api_key: str | None = None) -> tuple[float, float]:
    """Start ``case`` in a fresh folder with ``env`` added to this environment: (wall seconds to its first 200, CPU
    seconds it had used by then). ``api_key`` goes with the request of an authenticated case."""
    port = free_port()
    env = {**os.environ, **env, "PORT": str(port), "CLOUDGATE_APP_DIR": str(ROOT), **case.env}
    argv = [part.replace("{port}", str(port)) for part in case.argv]
    headers = {"X-API-Key": api_key} if case.authenticated and api_key else {}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wall = wait_first_200(f"http://127.0.0.1:{port}{case.path}", proc, started, headers)
            return wall, cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def compile_bytecode() -> None:
    """Write the ``.pyc`` files every case imports, once, before any clock starts (the image compiles at build)."""
    for folder in (Path(sys.prefix), ROOT / "src", ROOT / "app", ROOT / "bench"):
        compileall.compile_dir(folder, quiet=2, workers=0)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    compile_bytecode()
    keystore = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cloudgate-bench-')) / 'keys.sqlite3'}"
    _, api_key = open_keystore(keystore).create("bench", ["datasets:read"])
    env = {**SETTINGS, "CLOUDGATE_KEYSTORE": keystore}
    runs: dict[str, list[tuple[float, float]]] = {case.name: [] for case in CASES}
    for _ in range(rounds):  # alternate the cases, so a load change on the machine hits all of them alike
        for case in CASES:
            runs[case.name].append(first_200(case, env, api_key))
    wall = {name: statistics.median(w for w, _ in times) for name, times in runs.items()}
    cpu = {name: statistics.median(c for _, c in times) for name, times in runs.items()}
    cases = {
        name: {
            "median_s": wall[name],
            "ratio": round(wall[name] / wall[BASELINE], 3),
            "median_cpu_s": cpu[name],
            "cpu_ratio": round(cpu[name] / cpu[BASELINE], 3),
            "runs_s": [w for w, _ in runs[name]],
            "runs_cpu_s": [c for _, c in runs[name]],
        }
        for name in runs
    }
    result = {
        "rounds": rounds,
        "cases": cases,
        "baseline_case": BASELINE,
        "target_case": TARGET,
        "ratio": cases[TARGET]["ratio"],
        "cpu_ratio": cases[TARGET]["cpu_ratio"],
    }
    print(f"process start to first 200, median of {rounds} alternating rounds; ratios to the bare app:")
    print(f"  {'':<42} {'wall s':>7} {'ratio':>6}  {'CPU s':>6} {'ratio':>6}")
    for name, row in cases.items():
        print(
            f"  {name:<42} {row['median_s']:7.2f} {row['ratio']:5.2f}x"
            f"  {row['median_cpu_s']:6.2f} {row['cpu_ratio']:5.2f}x"
        )
    print(
        f"example service / bare: {result['ratio']:.2f}x wall, {result['cpu_ratio']:.2f}x CPU (target <= 1.20x; cloudgate alone <= 1.10x)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
