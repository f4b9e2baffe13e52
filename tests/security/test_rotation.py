"""Rotating a docs password through the mounted users file (``CLOUDGATE_DOCS_USERS_FILE``), without a restart.

Attack: keep using a docs password after it was rotated out (a leaked one), including through a login the service
remembers. Secure: once the new version is seen (within 1 s of the file changing), the new password works and the
old one is refused; a broken new version keeps the last good users instead of locking everyone out or letting
anyone in.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudgate.service.passwords import hash_password
from tests.security.conftest import DOCS_PASSWORD, DOCS_USER, Attack, Secrets, Served, basic
from tests.support import wait_until

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a rotated docs password, version two"
_clients = (f"198.51.100.{n % 250 + 1}" for n in itertools.count(100))  # a fresh throttle budget per attempt


@pytest.fixture(scope="module")
def users_file(secrets: Secrets) -> Path:
    path = secrets.root / "mounted" / "docs-users"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{DOCS_USER}:{secrets.docs_hash}\n")
    return path


@pytest.fixture(scope="module")
def rotating(secrets: Secrets, users_file: Path) -> Iterator[Served]:
    # Users from the mounted file only (as Secret Manager mounts them), none from the environment.
    with secrets.served_app(
        secrets.root / "d-rot", CLOUDGATE_DOCS_USERS_FILE=str(users_file), CLOUDGATE_DOCS_USERS=""
    ) as served:
        yield served


def _docs(service: Served, password: str, user: str = DOCS_USER) -> httpx.Response:
    headers = {"Authorization": basic(user, password), "X-Forwarded-For": next(_clients)}
    return httpx.get(f"{service.url}/docs", headers=headers, timeout=30)


def _wait_until_accepted(service: Served, password: str) -> None:
    wait_until(lambda: _docs(service, password).status_code == 200, timeout=30, what="the rotated password accepted")


def test_a_rotated_password_replaces_the_old_one_without_a_restart(
    rotating: Served, users_file: Path, attack: Attack
) -> None:
    assert _docs(rotating, DOCS_PASSWORD).status_code == 200  # and remembered for a minute
    users_file.write_text(f"# version 2\n{DOCS_USER}:{hash_password(NEW_PASSWORD)}\n")
    _wait_until_accepted(rotating, NEW_PASSWORD)
    attack("rotated-out docs password", _docs(rotating, DOCS_PASSWORD), expect=401)
    assert "docs users reloaded" in rotating.output


def test_a_broken_version_keeps_the_last_good_users(rotating: Served, users_file: Path, attack: Attack) -> None:
    third = "a third docs password, the last good one"
    users_file.write_text(f"{DOCS_USER}:{hash_password(third)}\n")
    _wait_until_accepted(rotating, third)
    users_file.write_text(f"{DOCS_USER}:not-an-argon2-hash\nmallory:plaintext\n")
    deadline = time.monotonic() + 30  # the file is looked at on a login: log in until the broken version is seen
    while "keeping the previous users" not in rotating.output:
        assert _docs(rotating, third).status_code == 200
        assert time.monotonic() < deadline, "the broken version was not noticed"
        time.sleep(0.2)
    assert _docs(rotating, third).status_code == 200
    attack("broken users file: its made-up entry", _docs(rotating, "plaintext", user="mallory"), expect=401)
    assert "not-an-argon2-hash" not in rotating.output and "plaintext" not in rotating.output
