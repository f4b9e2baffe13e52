"""Docs users rotation: the users file is re-read when it changes, within the stated bound, keeping the last good
version when a new one is broken. Time is the test's own clock; the files are real."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import AuthError
from cloudgate.service.docs_guard import DocsGuard
from cloudgate.service.docs_users import RECHECK_SECONDS, DocsUsers
from cloudgate.service.errors_http import handle_auth_error
from cloudgate.service.settings import ServiceSettings

_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
OLD, NEW = "the old docs password", "the new docs password"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {OLD: _CHEAP.hash(OLD), NEW: _CHEAP.hash(NEW)}


@pytest.fixture
def users_file(tmp_path: Path, hashes: dict[str, str]) -> Path:
    path = tmp_path / "docs-users"
    path.write_text(f"# rotated by Secret Manager\nalice:{hashes[OLD]}\n")
    return path


def _client(users: DocsUsers, settings: ServiceSettings) -> httpx.AsyncClient:
    guard = DocsGuard(users, settings)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.cloudgate_settings = settings  # what the refusal handler reads
    app.add_exception_handler(AuthError, handle_auth_error)

    # Installed the way install_docs does (a route dependency), so no annotation names the local guard.
    @app.get("/docs", dependencies=[Depends(guard)])
    async def docs() -> str:
        return "ok"

    transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://docs.test")


def _write(path: Path, text: str | None) -> None:
    """A new version of the mounted secret (``None``: the file is gone)."""
    if text is None:
        path.unlink()
    else:
        path.write_bytes(text.encode("latin-1"))


def _settings(path: Path) -> ServiceSettings:
    # Logins are remembered for an hour: only the reload may make a remembered old password stop working.
    return ServiceSettings(docs_users_file=path, docs_cache_seconds=3600, docs_max_failures=100)


@pytest.mark.anyio
async def test_a_rotated_password_works_and_the_old_is_refused_within_the_bound(
    users_file: Path, hashes: dict[str, str]
) -> None:
    clock = Clock()
    settings = _settings(users_file)
    users = DocsUsers(settings, clock=clock)
    async with _client(users, settings) as client:
        assert (await client.get("/docs", auth=("alice", OLD))).status_code == 200  # and now remembered
        _write(users_file, f"alice:{hashes[NEW]}\n")
        clock.now += RECHECK_SECONDS / 2
        assert (await client.get("/docs", auth=("alice", OLD))).status_code == 200  # not looked at yet
        clock.now += RECHECK_SECONDS / 2
        assert (await client.get("/docs", auth=("alice", OLD))).status_code == 401
        assert (await client.get("/docs", auth=("alice", NEW))).status_code == 200
    assert users.version == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "broken",
    ["alice:not-a-hash\n", "alice\n", "", "\xff\xfe binary"],
    ids=["not-a-hash", "no-colon", "empty", "not-utf8"],
)
async def test_a_broken_new_version_keeps_the_last_good_users(
    users_file: Path, hashes: dict[str, str], broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    settings = _settings(users_file)
    users = DocsUsers(settings, clock=clock)
    async with _client(users, settings) as client:
        _write(users_file, broken)
        clock.now += RECHECK_SECONDS
        with caplog.at_level(logging.ERROR, logger="cloudgate.service.docs_users"):
            assert (await client.get("/docs", auth=("alice", OLD))).status_code == 200
        assert "keeping the previous users" in caplog.text and hashes[OLD] not in caplog.text
        _write(users_file, f"alice:{hashes[NEW]}\n")  # the next good version is taken
        clock.now += RECHECK_SECONDS
        assert (await client.get("/docs", auth=("alice", NEW))).status_code == 200


@pytest.mark.anyio
async def test_a_missing_file_keeps_the_last_good_users(users_file: Path) -> None:
    clock = Clock()
    settings = _settings(users_file)
    users = DocsUsers(settings, clock=clock)
    async with _client(users, settings) as client:
        _write(users_file, None)
        clock.now += RECHECK_SECONDS
        assert (await client.get("/docs", auth=("alice", OLD))).status_code == 200
    assert users.version == 0


def test_the_file_is_read_at_most_once_per_recheck_interval(users_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    users = DocsUsers(_settings(users_file), clock=clock)
    reads = {"n": 0}
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads["n"] += 1
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    for _ in range(100):
        users.current()
    assert reads["n"] == 0
    clock.now += RECHECK_SECONDS
    for _ in range(100):
        users.current()
    assert reads["n"] == 1


def test_users_given_directly_watch_no_file(users_file: Path, hashes: dict[str, str]) -> None:
    users = DocsUsers(_settings(users_file), users={"bob": hashes[NEW]})
    assert users.current() == [(b"bob", hashes[NEW])]
