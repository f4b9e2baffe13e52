"""The Debian base is made from nothing: an empty cache folder, mmdebstrap, a tarball podman imports and runs.

This is what a fresh machine's first `make image` does (scripts/build-base.sh, called by scripts/build-image.sh),
so it must not lean on the machine's cached base. It downloads Debian's packages: a few minutes, one test only.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import uuid
from pathlib import Path

from tests.container.images import container_env
from tests.support import ROOT

BUILD_BASE = ROOT / "scripts" / "build-base.sh"


def test_the_base_builds_into_an_empty_cache_as_a_tarball_podman_imports_and_runs(tmp_path: Path) -> None:
    cache = tmp_path / "empty-cache"
    env = {**os.environ, **container_env(), "CLOUDGATE_IMAGE_CACHE": str(cache)}
    built = subprocess.run([str(BUILD_BASE)], env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert built.returncode == 0, built.stderr[-4000:]
    tarball = Path(built.stdout.strip())
    assert tarball == cache / "base-bookworm.tar"
    assert tarfile.is_tarfile(tarball)
    assert not (cache / "base-bookworm.partial.tar").exists()

    tag = f"localhost/cloudgate-base-test:{uuid.uuid4().hex[:12]}"
    try:
        subprocess.run(["podman", "import", "--quiet", str(tarball), tag], env=env, check=True, timeout=600)
        ran = subprocess.run(
            ["podman", "run", "--rm", "--pull=never", "--network=none", tag,
             "python3", "-c", "import ssl, sys, venv; print(sys.version_info[:2])"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert (ran.returncode, ran.stdout.strip()) == (0, "(3, 11)"), ran.stderr[-2000:]
    finally:
        subprocess.run(["podman", "rmi", "--force", tag], env=env, capture_output=True, check=False, timeout=600)
