"""Export throughput of the dataset service against DuckDB writing the same result to a local file, and the server's
peak memory per export, in one run.

The bench writes the sample dataset (``app.sample``, default 10 million rows: its NDJSON export is about 1.1 GB)
into a fresh data folder, then starts a real ``cloudgate serve app.main:create_app`` on 127.0.0.1 with DuckDB
sized as for a 512 MiB Cloud Run instance (what the service derives from such a cgroup: ``memory_limit`` 128 MiB,
spilling at most 128 MiB, 2 threads). For each format (ndjson, csv, parquet, arrow), in alternating rounds:

- service: ``curl`` (a C client, so the client is not what is measured) streams ``/export`` to /dev/null;
- DuckDB: in this process, with the same memory limit and threads, DuckDB writes the same rows to a local file
  (``COPY ... TO`` for ndjson, csv and parquet, zstd as the service uses; for arrow, DuckDB's record batches
  written by Arrow's IPC stream writer, as the service does).

The best round of each counts; the ratio is service rows/s over DuckDB's (1.0: the service streams as fast as
DuckDB writes a local file). The server's peak RSS is its ``VmHWM``, reset (``/proc/PID/clear_refs``) before each
export, so each figure is that export's own peak (after one tiny export has loaded what the service loads on
first use, ``app.warmup``). Writes ``bench/results/export_throughput.json``.

    .venv/bin/python bench/export_throughput.py [--rows 10000000] [--repeat 2] [--formats ndjson,csv,parquet,arrow]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from app.catalog import Catalog  # noqa: E402
from app.sample import ensure_sample  # noqa: E402
from app.settings import DataSettings  # noqa: E402
from tests.support import CLOUDGATE, free_port, wait_for_port  # noqa: E402

from cloudgate.service.keys import open_keystore  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FORMATS = ("ndjson", "csv", "parquet", "arrow")
MiB = 1024 * 1024
#: What the service derives on a 512 MiB instance (app.catalog.duckdb_config); the local side gets the same.
DUCKDB: dict[str, str | bool | int | float | list[str]] = {"memory_limit": "128MiB", "threads": 2}
SERVER_ENV = {
    "CLOUDGATE_DUCKDB_MEMORY_LIMIT": "128MiB",
    "CLOUDGATE_DUCKDB_MAX_TEMP_BYTES": str(128 * MiB),
    "CLOUDGATE_DUCKDB_THREADS": "2",
    "CLOUDGATE_SAMPLE_ROWS": "0",
    "CLOUDGATE_IDENTITY": "off",
    "CLOUDGATE_LOG_LEVEL": "warning",
    "CLOUDGATE_EXPORT_SECONDS": "3600",  # the whole export is measured, however slow the shared machine is
}
#: DuckDB's COPY options giving what the service's export of each format holds.
_COPY = {"ndjson": "FORMAT json", "csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet, COMPRESSION zstd"}


def _status(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in bytes (VmHWM: the peak resident set since the last reset)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def served(port: int, headers: Path, fmt: str, pid: int) -> dict[str, float]:
    """Stream one export with curl; its bytes, seconds and the server's peak RSS during it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    url = f"http://127.0.0.1:{port}/v1/datasets/sample/export?format={fmt}"
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-H", f"@{headers}", "-w", "%{size_download}", url]
    started = time.perf_counter()
    size = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - started
    return {"bytes": int(size), "seconds": seconds, "peak_rss_bytes": _status(pid, "VmHWM")}


def local(source: Path, fmt: str, target: Path) -> dict[str, float]:
    """DuckDB writes the same rows to ``target``; its bytes and seconds."""
    con = duckdb.connect(config=DUCKDB)
    started = time.perf_counter()
    if fmt in _COPY:
        # Our own temporary paths: COPY takes no parameter for its target.
        con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' ({_COPY[fmt]})")
    else:
        reader = con.sql("SELECT * FROM read_parquet(?)", params=[str(source)]).to_arrow_reader(65_536)
        with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    seconds = time.perf_counter() - started
    con.close()
    size = target.stat().st_size
    target.unlink()
    return {"bytes": size, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="Rounds per format; the best counts.")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    formats = args.formats.split(",")

    with tempfile.TemporaryDirectory(prefix="cloudgate-bench-") as tmp:
        root = Path(tmp)
        data = root / "data"
        started = time.perf_counter()
        catalog = Catalog(DataSettings(data_dir=data))
        ensure_sample(catalog, "sample", args.rows)
        catalog.close()
        source = data / "sample.parquet"
        print(
            f"sample: {args.rows:,} rows, {source.stat().st_size / 1e6:.0f} MB of Parquet ({time.perf_counter() - started:.0f} s)"
        )
        keystore = f"sqlite:///{root / 'keys.sqlite3'}"
        _, key = open_keystore(keystore).create("bench", ["datasets:read"], None)
        headers = root / "headers"  # the key goes to curl in a file, never on its command line
        headers.touch(mode=0o600)
        headers.write_text(f"X-API-Key: {key}\n")
        port = free_port()
        env = {**os.environ, **SERVER_ENV, "PORT": str(port), "CLOUDGATE_KEYSTORE": keystore}
        env |= {"CLOUDGATE_DATA_DIR": str(data), "CLOUDGATE_APP_DIR": str(ROOT)}
        argv = [CLOUDGATE, "serve", "app.main:create_app", "--host", "127.0.0.1"]
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(port, proc=proc, timeout=120)
            idle = _status(proc.pid, "VmRSS")
            # One tiny export loads what the service loads on first use (app.warmup): the peaks below are exports'.
            warm = subprocess.run(
                ["curl", "-sS", "--fail", "-o", "/dev/null", "-H", f"@{headers}",
                 f"http://127.0.0.1:{port}/v1/datasets/sample/export?format=arrow&filter=id:eq:1"],
                check=False,
            )  # fmt: skip
            if warm.returncode != 0:
                raise SystemExit("the warm-up export failed")
            warm_rss = _status(proc.pid, "VmRSS")
            runs: dict[str, dict[str, list[dict[str, float]]]] = {f: {"service": [], "duckdb": []} for f in formats}
            for _ in range(args.repeat):
                for fmt in formats:  # alternate: a change of load on the machine hits both sides alike
                    runs[fmt]["service"].append(served(port, headers, fmt, proc.pid))
                    runs[fmt]["duckdb"].append(local(source, fmt, root / f"local.{fmt}"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    result: dict[str, object] = {"rows": args.rows, "repeat": args.repeat, "duckdb": DUCKDB}
    result |= {"idle_rss_bytes": idle, "warm_rss_bytes": warm_rss}
    table = {}
    print(
        f"server RSS: {idle / MiB:.0f} MiB started, {warm_rss / MiB:.0f} MiB warmed up (DuckDB, Arrow, one tiny export)"
    )
    print(f"best of {args.repeat} alternating rounds (peak RSS: the highest of the rounds):")
    print(
        f"{'format':<8} {'service MB':>10} {'MB/s':>7} {'Mrows/s':>8}  {'duckdb MB':>9} {'MB/s':>7} {'Mrows/s':>8}  ratio  peak RSS"
    )
    for fmt in formats:
        service = min(runs[fmt]["service"], key=lambda r: r["seconds"])
        duck = min(runs[fmt]["duckdb"], key=lambda r: r["seconds"])
        ratio = duck["seconds"] / service["seconds"]  # the same rows: rows/s over rows/s
        peak = max(r["peak_rss_bytes"] for r in runs[fmt]["service"])
        table[fmt] = {"service": service, "duckdb": duck, "ratio": round(ratio, 3), "peak_rss_bytes": peak,
                      "runs": runs[fmt]}  # fmt: skip
        print(
            f"{fmt:<8} {service['bytes'] / 1e6:>10.0f} {service['bytes'] / 1e6 / service['seconds']:>7.0f}"
            f" {args.rows / 1e6 / service['seconds']:>8.2f}  {duck['bytes'] / 1e6:>9.0f}"
            f" {duck['bytes'] / 1e6 / duck['seconds']:>7.0f} {args.rows / 1e6 / duck['seconds']:>8.2f}"
            f"  {ratio:.2f}x  {peak / MiB:.0f} MiB"
        )
    result["formats"] = table
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_throughput.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
