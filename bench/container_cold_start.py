"""Cold start of the image against the same app as a local process: from start to the first 200 on /health.

Container: ``podman create --rm -p 127.0.0.1:P:P -e PORT=P IMAGE`` then ``podman start`` (what ``podman run`` does,
timed in two parts: creating copies the image's files, every one of them with vfs storage; starting runs the
image's own ``cloudgate serve``).
Process: ``cloudgate serve app.main:create_app`` from this checkout's .venv, with the same environment, in a fresh
working folder, timed by the same loop as ``bench/cold_start.py``. Rounds alternate; the ratio is of the medians.
Also prints the image's size. The image is built with scripts/build-image.sh when it is missing. Writes
``bench/results/container_cold_start.json``.

    .venv/bin/python bench/container_cold_start.py [IMAGE] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.container.images import container_env  # noqa: E402
from tests.support import CLOUDGATE, free_port  # noqa: E402

from bench.cold_start import RESULTS, SERVICE, Case, first_200, wait_first_200  # noqa: E402

#: The same settings for both sides (a small sample dataset, as the tests use).
SETTINGS = {"CLOUDGATE_SAMPLE_ROWS": "1000", "CLOUDGATE_LOG_LEVEL": "warning"}
#: The same app as a local process, timed by the same loop as bench/cold_start.py.
PROCESS = Case("local process", [CLOUDGATE, "serve", SERVICE], "/health", authenticated=False)


def _container(image: str) -> tuple[float, float]:
    """(total, of which ``podman create``): create copies the image's files (all of them with vfs storage)."""
    port = free_port()
    name = f"cloudgate-bench-{port}"
    argv = ["podman", "create", "--rm", "--pull=never", "--name", name, "-p", f"127.0.0.1:{port}:{port}"]
    for key in (*SETTINGS, "PORT"):
        argv += ["-e", key]
    env = {**os.environ, **SETTINGS, "PORT": str(port)}
    started = time.perf_counter()
    subprocess.run([*argv, image], env=env, capture_output=True, check=True)
    created = time.perf_counter() - started
    proc = subprocess.Popen(["podman", "start", "--attach", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_first_200(f"http://127.0.0.1:{port}/health", proc, started, {}), created
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], capture_output=True, check=False)
        proc.wait(timeout=60)


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else "localhost/cloudgate:latest"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.environ.update(container_env())
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "build-image.sh"), image], check=True)
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    containers, creates, processes = [], [], []
    for _ in range(rounds):
        total, created = _container(image)
        containers.append(total)
        creates.append(created)
        processes.append(first_200(PROCESS, SETTINGS)[0])
    container, process = statistics.median(containers), statistics.median(processes)
    create = statistics.median(creates)
    start = statistics.median(total - created for total, created in zip(containers, creates, strict=True))
    print(f"image {image}: {int(size) / 1e6:.0f} MB")
    print(f"cold start to first 200 on /health, median of {rounds} (settings {SETTINGS}):")
    print(f"  container (podman run): {container:.2f} s   runs: {', '.join(f'{t:.2f}' for t in containers)}")
    print(f"    podman create: {create:.2f} s; podman start to first 200: {start:.2f} s (medians)")
    print(f"  local process:          {process:.2f} s   runs: {', '.join(f'{t:.2f}' for t in processes)}")
    print(f"  ratio container/process: {container / process:.2f}  (start only: {start / process:.2f})")
    result = {
        "image": image,
        "image_bytes": int(size),
        "rounds": rounds,
        "container_s": container,
        "create_s": create,
        "start_s": start,
        "process_s": process,
        "ratio": round(container / process, 3),
        "start_ratio": round(start / process, 3),
        "container_runs_s": containers,
        "create_runs_s": creates,
        "process_runs_s": processes,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "container_cold_start.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
