"""Builds the test images once per change: a build context like a clone's (plus planted secrets), tagged by content.

The context holds the repository's files (``git ls-files``: tracked and untracked-but-not-ignored) and the decoys
below, which .dockerignore must keep out of the image. The tag is a hash of the context and the base image, so an
unchanged tree reuses the image already in the (cached) storage instead of building again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.readme_secrets import planted_paths
from tests.support import ROOT

BUILD_SCRIPT = ROOT / "scripts" / "build-image.sh"
CONTAINERS = ROOT / "scripts" / "containers"
BASE_IMAGE = "localhost/cloudgate-base:bookworm"

#: Files a developer's checkout may hold that must never reach the image (path -> content).
DECOYS = {
    ".cloudgate/dev/invoker-key.json": '{"type": "service_account", "private_key": "decoy"}',
    ".cloudgate/dev/session.json": '{"api_key": "cgk_decoy"}',
    ".env": "CLOUDGATE_CURSOR_SECRET=decoy",
    "app/.env.local": "SECRET=decoy",
    "keys.sqlite3": "decoy",
    "app/keys.sqlite3": "decoy",
    "app/keys.sqlite3-wal": "decoy",
    "data/sample.parquet": "decoy",
    "app/data/mine.csv": "a,b\n1,2\n",
    "app/service-account.json": '{"private_key": "decoy"}',
    "app/tls.key": "decoy",
    "app/tls.pem": "decoy",
    "app/__pycache__/stale.cpython-311.pyc": "decoy",
    ".venv/local-venv-decoy": "home = /usr/bin",
    ".git/local-git-decoy": "[core]",
    # the README's own docs users file, keys file and key files, at the top, in app/ and deeper
    **dict.fromkeys(planted_paths(), "decoy"),
}


def container_env() -> dict[str, str]:
    """podman/buildah settings for this machine kind (what scripts/container-env.sh exports)."""
    return {
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS / "containers.conf")),
        "CONTAINERS_STORAGE_CONF": os.environ.get("CONTAINERS_STORAGE_CONF", str(CONTAINERS / "storage.conf")),
    }


def make_context(folder: Path, extra: dict[str, Path] | None = None) -> Path:
    """Copy the checkout's files into ``folder``, plant the decoys, add ``extra`` folders (name -> source)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    for name, content in DECOYS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    for name, source in (extra or {}).items():
        shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


#: What the Dockerfile reads from the context (with .dockerignore deciding within): the tag hashes only these.
_BUILD_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "requirements", "src")


def content_tag(repository: str, context: Path, build_args: dict[str, str]) -> str:
    """``repository:<hash>`` of the build inputs, the app folder, the build arguments and the base image."""
    digest = hashlib.sha256(repr(sorted(build_args.items())).encode())
    digest.update(_image_id(BASE_IMAGE).encode())
    inputs = [*_BUILD_INPUTS, build_args.get("APP_DIR", "app")]
    for name in inputs:
        top = context / name
        for path in sorted([top] if top.is_file() else (p for p in top.rglob("*") if p.is_file())):
            digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{repository}:{digest.hexdigest()[:16]}"


def _image_id(image: str) -> str:
    done = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", image],
        env={**os.environ, **container_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def image_exists(tag: str) -> bool:
    return bool(_image_id(tag))


def start_build(tag: str, context: Path, build_args: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """scripts/build-image.sh in the background (the base is made and imported first if missing)."""
    argv = [str(BUILD_SCRIPT), tag]
    for name, value in build_args.items():
        argv += ["--build-arg", f"{name}={value}"]
    env = {**os.environ, **container_env(), "CLOUDGATE_CONTEXT": str(context)}
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def forget_old_images(keep: set[str], older_than: str = "12h") -> None:
    """Remove test images from earlier trees (vfs storage is big); one still in use is left alone (rmi refuses)."""
    env = {**os.environ, **container_env()}
    listed = subprocess.run(
        ["podman", "images", "--filter", "reference=localhost/cloudgate-test*", "--filter", f"until={older_than}",
         "--format", "{{.Repository}}:{{.Tag}}"],
        env=env, capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    old = [tag for tag in listed if tag not in keep]
    if old:
        subprocess.run(["podman", "rmi", *old], env=env, capture_output=True, check=False)
