"""Session fixtures of the image tests: both images built once (concurrently), one running container shared.

Every test here is marked ``container``. The builds go through scripts/build-image.sh, whose base image and
storage are cached under /var/cache/cloudgate, and are skipped when an image of the same content exists.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.container import images
from tests.support import free_port

HERE = Path(__file__).resolve().parent
#: The user's own app of the "ship your own app" path, with its build arguments.
MYSERVICE_ARGS = {"APP_DIR": "myservice", "APP": "myservice.main:create_app"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.container)
            item.add_marker(pytest.mark.timeout(1800))  # the first one waits for the image builds


@dataclass(frozen=True)
class Images:
    default: str  # app/, from a checkout with planted secrets
    myservice: str  # tests/container/myservice shipped instead (--build-arg APP_DIR=myservice ...)
    context: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Images:
    """Build both images at once (each skipped when an image of the same content is already stored)."""
    os.environ.update(images.container_env())  # for podman run by the tests and by the emulator's runner
    work = tmp_path_factory.mktemp("images")
    default_context = images.make_context(work / "default")
    mine_context = images.make_context(work / "mine", {"myservice": HERE / "myservice"})
    wanted = {
        images.content_tag("localhost/cloudgate-test", default_context, {}): (default_context, {}),
        images.content_tag("localhost/cloudgate-test-myservice", mine_context, MYSERVICE_ARGS): (
            mine_context,
            MYSERVICE_ARGS,
        ),
    }
    builds = {}
    for tag, (context, args) in wanted.items():
        if not images.image_exists(tag):
            builds[tag] = images.start_build(tag, context, args, work / f"{tag.rsplit(':')[0].rsplit('/')[-1]}.log")
    for tag, proc in builds.items():
        if proc.wait(timeout=1500) != 0:
            log = (work / f"{tag.rsplit(':')[0].rsplit('/')[-1]}.log").read_text(errors="replace")
            pytest.fail(f"building {tag} failed:\n{log[-4000:]}")
    images.forget_old_images(set(wanted))
    default, mine = list(wanted)
    return Images(default=default, myservice=mine, context=default_context)


@dataclass
class Running:
    name: str
    url: str
    port: int


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120) -> None:
    """Block until GET /health answers 200 (a condition with a generous limit, not a guess)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the container exited with {proc.returncode} before answering")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}/health did not answer 200 within {timeout}s")


@pytest.fixture(scope="session")
def running(built: Images) -> Iterator[Running]:
    """The default image as Cloud Run would run it, with a read-only root filesystem (a tmpfs for its home)."""
    port = free_port()
    name = f"cloudgate-test-{port}"
    podman(
        "run", "--detach", "--rm", "--pull=never", "--name", name, "--read-only",
        "--tmpfs", "/home/cloudgate:rw,mode=0700,U",  # U: owned by the image's user
        "--publish", f"127.0.0.1:{port}:{port}", "--env", f"PORT={port}",
        "--env", "CLOUDGATE_SAMPLE_ROWS=1000", "--env", "K_SERVICE=test",
        built.default,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield Running(name=name, url=f"http://127.0.0.1:{port}", port=port)
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


@pytest.fixture(scope="session")
def built_files(built: Images) -> Iterator[dict[str, tuple[int, int]]]:
    """Every path in the default image -> (mode, owner uid), read from the mounted image (no container)."""
    root = Path(podman("image", "mount", built.default).stdout.strip())
    try:
        files = {}
        for folder, dirs, names in os.walk(root):
            for name in dirs + names:
                path = Path(folder) / name
                info = path.lstat()
                if not stat.S_ISLNK(info.st_mode):  # a link's own mode is always 0777 and means nothing
                    files["/" + str(path.relative_to(root))] = (info.st_mode, info.st_uid)
        yield files
    finally:
        podman("image", "unmount", built.default, check=False)
