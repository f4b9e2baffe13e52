"""Export throughput of the dataset service next to DuckDB writing the same result to a local file.

Starts a real ``cloudgate serve app.main:create_app`` (the default million-row sample) on 127.0.0.1, streams
``/export`` as ndjson and arrow, and in the same run lets DuckDB write the same rows to a local file. Prints MB/s,
rows/s, the ratio service/local (what we track: the service should be bound by the disk and network, not by
Python), and the server's peak memory (VmHWM).

    .venv/bin/python bench/export_throughput.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cloudgate.service.keys import open_keystore  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stream(client: httpx.Client, fmt: str) -> tuple[int, float]:
    started = time.perf_counter()
    size = 0
    with client.stream("GET", "/v1/datasets/sample/export", params={"format": fmt}) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return size, time.perf_counter() - started


def _local(source: Path, fmt: str, target: Path) -> tuple[int, float]:
    con = duckdb.connect()
    started = time.perf_counter()
    if fmt == "ndjson":
        # Our own temp paths; COPY TO takes no parameter for its target.
        con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' (FORMAT json)")
    else:
        reader = con.sql("SELECT * FROM read_parquet(?)", params=[str(source)]).to_arrow_reader(65_536)
        with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_stream(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
    elapsed = time.perf_counter() - started
    con.close()
    return target.stat().st_size, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement; the best is reported.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cloudgate-bench-") as tmp:
        root = Path(tmp)
        keystore = f"sqlite:///{root / 'keys.sqlite3'}"
        _, key = open_keystore(keystore).create("bench", ["datasets:read"], None)
        port = _free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "CLOUDGATE_ENV": "development",
            "CLOUDGATE_KEYSTORE": keystore,
            "CLOUDGATE_DATA_DIR": str(root / "data"),
            "CLOUDGATE_SAMPLE_ROWS": str(args.rows),
            "CLOUDGATE_LOG_LEVEL": "warning",
        }
        cloudgate = str(Path(sys.executable).parent / "cloudgate")
        proc = subprocess.Popen(
            [cloudgate, "serve", "app.main:create_app"], cwd=ROOT, env=env, start_new_session=True
        )
        try:
            _wait(port, proc)
            idle = _peak_rss_mib(proc.pid)
            print(f"rows: {args.rows:,}; server peak RSS after start: {idle:.0f} MiB")
            print(f"{'format':<8} {'where':<9} {'MB':>8} {'s':>7} {'MB/s':>8} {'rows/s':>12}  ratio")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=600) as client:
                for fmt in ("ndjson", "arrow"):
                    served = min((_stream(client, fmt) for _ in range(args.repeat)), key=lambda r: r[1])
                    local = min(
                        (_local(root / "data" / "sample.parquet", fmt, root / f"local.{fmt}") for _ in range(args.repeat)),
                        key=lambda r: r[1],
                    )
                    for where, (size, seconds) in (("service", served), ("duckdb", local)):
                        ratio = f"{(served[0] / served[1]) / (local[0] / local[1]):.2f}" if where == "service" else ""
                        print(
                            f"{fmt:<8} {where:<9} {size / 1e6:>8.1f} {seconds:>7.2f} {size / 1e6 / seconds:>8.1f}"
                            f" {args.rows / seconds:>12,.0f}  {ratio}"
                        )
            print(f"server peak RSS (VmHWM) after the exports: {_peak_rss_mib(proc.pid):.0f} MiB")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
