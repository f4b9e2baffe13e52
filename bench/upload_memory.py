"""Peak memory of the front end and the service during a 100 MiB upload through ``cloudgate dev --http2``.

Starts ``cloudgate dev --http2`` (the example app behind the emulated Cloud Run front end, h2c between them), writes
a 100 MiB CSV, uploads it with an invoker's ID token to ``POST /v1/datasets/{name}``, and prints for every process
of the stack its resident memory before and its peak during the upload (``/proc/PID/clear_refs`` resets the peak,
``VmHWM`` reads it). Usage: ``python bench/upload_memory.py [MiB]``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import google.auth.transport.requests
import httpx
from google.oauth2 import service_account
from tests.e2e.stack import DevStack

MIB = 1024 * 1024
_ROW = b"1234567,abcdefghijklmnop,3.14159265\n"


def write_csv(path: Path, size: int) -> None:
    block = _ROW * (MIB // len(_ROW))
    with path.open("wb") as sink:
        sink.write(b"id,name,value\n")
        while sink.tell() < size:
            sink.write(block)


def processes(pid: int) -> list[int]:
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(each for child in children.split() for each in processes(int(child)))]


def mib(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024  # type: ignore[union-attr]


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    folder = Path(tempfile.mkdtemp(prefix="cloudgate-bench-"))
    env = {"CLOUDGATE_MAX_UPLOAD_BYTES": str((size + 32) * MIB)}
    stack = DevStack.start(folder, sample_rows=0, args=["--http2"], env=env)
    try:
        assert stack.proc is not None
        csv = folder / "upload.csv"
        write_csv(csv, size * MIB)
        creds = service_account.IDTokenCredentials.from_service_account_file(
            str(stack.invoker_key), target_audience=stack.url
        )
        creds.refresh(google.auth.transport.requests.Request())
        headers = {
            "X-Serverless-Authorization": f"Bearer {creds.token}",
            "X-API-Key": stack.api_key,
            "Content-Type": "text/csv",
        }
        httpx.get(f"{stack.url}/v1/whoami", headers=headers).raise_for_status()
        pids = processes(stack.proc.pid)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        before = {pid: mib(pid, "VmRSS") for pid in pids}
        started = time.perf_counter()
        with csv.open("rb") as body:
            response = httpx.post(f"{stack.url}/v1/datasets/upload", content=body, headers=headers, timeout=600)
        took = time.perf_counter() - started
        response.raise_for_status()
        print(f"{csv.stat().st_size / MIB:.0f} MiB uploaded in {took:.1f} s: {response.json()['rows']} rows")
        print(f"{'process':40} {'RSS before':>11} {'peak during':>12}")
        for pid in pids:
            if pid == stack.proc.pid:
                role = "front end (the cloudgate dev process)"
            else:  # granian's supervisor is the parent of its worker
                role = "service: granian supervisor" if len(processes(pid)) > 1 else "service: granian worker"
            print(f"{role:40} {before[pid]:>7.0f} MiB {mib(pid, 'VmHWM'):>8.0f} MiB")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
