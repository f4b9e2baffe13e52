"""Container cold start on vfs against overlay storage: ``podman run`` to the first authenticated 200, same run.

podman's vfs driver (``scripts/containers/storage.conf``, what CI and the container tests use) copies every file
of the image into each new container; overlay mounts the image's layers under a thin writable layer, as Cloud
Run's own image streaming does not copy the image either. The same image is measured in three stores, each its own
graphroot, so the shared vfs store is only read:

- ``vfs``: ``scripts/containers/storage.conf``;
- ``overlay``: the kernel's overlayfs (``scripts/containers/storage-overlay.conf``);
- ``fuse-overlayfs``: overlay through FUSE (``scripts/containers/storage-fuse-overlayfs.conf``; Debian's
  ``fuse-overlayfs``, ``scripts/system-deps.sh fuse-overlayfs``), for machines whose kernel cannot.

The image is copied from the vfs store into the others (``podman save`` / ``podman load``) when they lack it. Each
round, in turn for each store: ``podman run --rm`` of the image (the example service, a read-only key file mounted
as a Secret Manager volume would be) until ``/v1/whoami`` answers 200 to the round's API key; then the same app as
a local process (``cloudgate serve`` from this checkout's ``.venv``, bytecode compiled first as the image's is, the
same settings and key file, timed by ``bench/cold_start.py``'s loop). Rounds alternate; the medians and their ratios to vfs and to the process are
printed. A store that cannot run here (no overlay in the kernel, no /dev/fuse) is reported and skipped. Writes
``bench/results/container_storage.json``.

    .venv/bin/python bench/container_storage.py [IMAGE] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.container.images import container_env  # noqa: E402
from tests.support import CLOUDGATE, free_port  # noqa: E402

from bench.cold_start import RESULTS, SERVICE, Case, compile_bytecode, first_200, wait_first_200  # noqa: E402
from cloudgate.service.keys import open_keystore  # noqa: E402

CONTAINERS = ROOT / "scripts" / "containers"
#: name -> storage.conf; vfs first: it holds the image, and the ratios are to it.
STORES = {
    "vfs": CONTAINERS / "storage.conf",
    "overlay": CONTAINERS / "storage-overlay.conf",
    "fuse-overlayfs": CONTAINERS / "storage-fuse-overlayfs.conf",
}
SETTINGS = {
    "CLOUDGATE_SAMPLE_ROWS": "1000",
    "CLOUDGATE_LOG_LEVEL": "warning",
    "CLOUDGATE_IDENTITY": "off",
    "CLOUDGATE_KEYSTORE": "file:///keys/keys.json",
}


#: The same app as a local process from this checkout's .venv, timed by bench/cold_start.py's loop: the baseline
#: the containers' start is read against.
PROCESS = Case("local process", [CLOUDGATE, "serve", SERVICE], "/v1/whoami")


def _podman(store: str, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(STORES[store])}
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, check=check, timeout=timeout)


def _copy_image(image: str, store: str, archive: Path) -> None:
    """Load ``image`` into ``store`` from the vfs store, unless it is there already."""
    if _podman(store, "image", "exists", image, check=False).returncode == 0:
        return
    if not archive.exists():
        _podman("vfs", "save", "--quiet", "--format", "oci-archive", "-o", str(archive), image)
    _podman(store, "load", "--quiet", "-i", str(archive))


def _usable(store: str) -> str | None:
    """Why ``store`` cannot run containers on this machine, or None."""
    if store == "fuse-overlayfs" and (shutil.which("fuse-overlayfs") is None or not Path("/dev/fuse").exists()):
        return "needs fuse-overlayfs and /dev/fuse (scripts/system-deps.sh fuse-overlayfs)"
    if store == "overlay" and "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


def _run(store: str, image: str, keys: Path, api_key: str) -> float:
    """Seconds from ``podman run`` to the first authenticated 200 of ``/v1/whoami``."""
    port = free_port()
    name = f"cloudgate-storage-bench-{port}"
    argv = ["podman", "run", "--rm", "--pull=never", "--name", name, "-p", f"127.0.0.1:{port}:{port}"]
    argv += ["-v", f"{keys}:/keys:ro", "-e", "PORT"]
    for key in SETTINGS:
        argv += ["-e", key]
    env = {**os.environ, **SETTINGS, "PORT": str(port), "CONTAINERS_STORAGE_CONF": str(STORES[store])}
    started = time.perf_counter()
    proc = subprocess.Popen([*argv, image], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return wait_first_200(f"http://127.0.0.1:{port}/v1/whoami", proc, started, {"X-API-Key": api_key})
    finally:
        _podman(store, "rm", "--force", "--time", "0", name, check=False)
        proc.wait(timeout=120)


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else "localhost/cloudgate:latest"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.environ.update(container_env())
    os.environ.pop("CONTAINERS_STORAGE_CONF")  # set per store
    if _podman("vfs", "image", "exists", image, check=False).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "build-image.sh"), image], check=True)
    keys = Path(tempfile.mkdtemp(prefix="cloudgate-bench-keys-"))
    _, api_key = open_keystore(f"file://{keys / 'keys.json'}").create("bench", ["datasets:read"])
    keys.chmod(0o755)
    (keys / "keys.json").chmod(0o644)  # read by the image's own (non-root) user
    stores, skipped = [], {}
    with tempfile.TemporaryDirectory(prefix="cloudgate-image-") as folder:
        for store in STORES:
            if (why := _usable(store)) is not None:
                skipped[store] = why
                continue
            _copy_image(image, store, Path(folder) / "image.tar")
            stores.append(store)
    compile_bytecode()  # the process, like the image (compiled at build), runs from .pyc files
    runs: dict[str, list[float]] = {store: [] for store in [*stores, PROCESS.name]}
    process_env = {**SETTINGS, "CLOUDGATE_KEYSTORE": f"file://{keys / 'keys.json'}"}
    for _ in range(rounds):  # alternate, so a load change on the machine hits every store alike
        for store in stores:
            runs[store].append(_run(store, image, keys, api_key))
        runs[PROCESS.name].append(first_200(PROCESS, process_env, api_key)[0])
    shutil.rmtree(keys, ignore_errors=True)
    median = {store: statistics.median(times) for store, times in runs.items()}
    print(f"image {image}: podman run to the first authenticated 200 (/v1/whoami), median of {rounds} rounds")
    process = median[PROCESS.name]
    for store, times in runs.items():
        print(
            f"  {store:<15} {median[store]:6.2f} s  {median[store] / median['vfs']:5.2f}x of vfs"
            f"  {median[store] / process:5.2f}x of the process   runs: {', '.join(f'{t:.2f}' for t in times)}"
        )
    for store, why in skipped.items():
        print(f"  {store:<15} skipped: {why}")
    result = {
        "image": image,
        "rounds": rounds,
        "median_s": median,
        "ratio_to_vfs": {store: round(median[store] / median["vfs"], 3) for store in median},
        "ratio_to_process": {store: round(median[store] / process, 3) for store in median},
        "runs_s": runs,
        "skipped": skipped,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "container_storage.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
