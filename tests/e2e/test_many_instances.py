"""Three instances behind the front end (``cloudgate dev --instances 3``): one key store shared, or one copy each.

With Firestore every instance sees a key created or revoked through the CLI (a revocation within the key cache
period plus one lookup: measured here, reported, never asserted against a wall-clock margin). With SQLite each
instance has its own copy of the key file, as each Cloud Run instance has its own disk: a key created after start
is unknown to all of them, and the service warns about it at start.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cloudgate.client import Client
from cloudgate.service.keys import open_keystore
from tests.cli import run_cloudgate
from tests.e2e.stack import DevStack
from tests.firestore_emulator import FirestoreEmulator, fresh_collection_url
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e

_POLL_LIMIT_S = 60.0
_INSTANCES = 3


@pytest.fixture(scope="module")
def firestore_dev(
    firestore_emulator: FirestoreEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevStack]:
    url = fresh_collection_url()
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    args = ["--instances", str(_INSTANCES), "--keystore", url]
    stack = DevStack.start(tmp_path_factory.mktemp("dev-firestore"), args=args, env=env, timeout=120)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def sqlite_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = DevStack.start(tmp_path_factory.mktemp("dev-sqlite"), args=["--instances", str(_INSTANCES)], timeout=120)
    try:
        yield stack
    finally:
        stack.stop()


def keys_cli(stack: DevStack, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_cloudgate("keys", *args, "--keystore", stack.session["keystore"], env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def instance_urls(stack: DevStack) -> list[str]:
    return [instance["url"] for instance in stack.instances()["dev"]]


def whoami(url: str, key: str) -> httpx.Response:
    """Straight to one instance (no ID token needed: whoami asks for an API key only)."""
    return httpx.get(f"{url}/v1/whoami", headers={"X-API-Key": key}, timeout=30)


def test_the_front_end_spreads_requests_over_the_instances(firestore_dev: DevStack) -> None:
    assert len(instance_urls(firestore_dev)) == _INSTANCES
    before = firestore_dev.counters()["instance_requests"]
    creds = firestore_dev.session["invoker_key_file"]
    with Client(firestore_dev.url, credentials=creds, api_key=firestore_dev.api_key) as client:
        for _ in range(2 * _INSTANCES):
            assert client.get("/v1/whoami").status_code == 200
    after = firestore_dev.counters()["instance_requests"]
    assert sorted(after[name] - before.get(name, 0) for name in after) == [2] * _INSTANCES


def test_a_key_revoked_through_the_cli_is_refused_by_every_instance(
    firestore_dev: DevStack, firestore_emulator: FirestoreEmulator, record_property: pytest.RecordProperty
) -> None:
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    secret = keys_cli(firestore_dev, "create", "revoke-me", env=env)
    urls = instance_urls(firestore_dev)
    for url in urls:  # created after start, known everywhere; now cached by every instance
        assert whoami(url, secret).status_code == 200
    cli_started = time.monotonic()
    keys_cli(firestore_dev, "revoke", secret, env=env)
    cli_took = time.monotonic() - cli_started
    slowest = seconds_until_refused_everywhere(urls, secret, since=cli_started)
    record_property("revocation_seconds_from_cli_start", round(slowest, 3))
    print(
        f"\nCLI revocation: refused by all {len(urls)} instances {slowest:.3f}s after the CLI started ({cli_took:.3f}s run)"
    )


def test_a_revocation_reaches_every_fresh_cache_within_the_cache_period(
    firestore_dev: DevStack,
    firestore_emulator: FirestoreEmulator,
    monkeypatch: pytest.MonkeyPatch,
    record_property: pytest.RecordProperty,
) -> None:
    """The worst case, measured: every instance has just cached the key when the revocation is committed."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    store = open_keystore(firestore_dev.session["keystore"])
    try:
        record, secret = store.create("revoke-me-fresh", [])
        urls = instance_urls(firestore_dev)
        for url in urls:
            assert whoami(url, secret).status_code == 200
        for url in urls:  # refresh every entry right before the commit (a lookup per instance at most)
            assert whoami(url, secret).status_code == 200
        committed = time.monotonic()
        store.revoke(record.key_id, datetime.now(UTC))
        slowest = seconds_until_refused_everywhere(urls, secret, since=committed)
    finally:
        store.close()
    record_property("revocation_seconds_worst_case", round(slowest, 3))
    print(f"\nworst case: refused by all {len(urls)} instances {slowest:.3f}s after the revocation was committed")


def seconds_until_refused_everywhere(urls: list[str], secret: str, *, since: float) -> float:
    """Poll each instance until it refuses the key as revoked; the time the last one took, from ``since``."""
    refused_after: dict[str, float] = {}
    while len(refused_after) < len(urls):
        assert time.monotonic() - since < _POLL_LIMIT_S, f"still accepted after {_POLL_LIMIT_S}s"
        for url in urls:
            if url not in refused_after:
                response = whoami(url, secret)
                if response.status_code == 401:
                    assert response.json()["reason"] == "api_key_revoked"
                    refused_after[url] = time.monotonic() - since
                else:
                    assert response.status_code == 200
        time.sleep(0.02)  # a poll interval, not a margin: nothing is asserted about the time taken
    return max(refused_after.values())


def test_with_sqlite_a_key_created_after_start_is_unknown_to_every_instance(sqlite_dev: DevStack) -> None:
    late = keys_cli(sqlite_dev, "create", "created-after-start")
    urls = instance_urls(sqlite_dev)
    assert len(urls) == _INSTANCES
    for url in urls:
        assert whoami(url, sqlite_dev.api_key).status_code == 200  # in the copy each instance started with
        refused = whoami(url, late)
        assert refused.status_code == 401 and refused.json()["reason"] == "api_key_invalid"


def test_with_sqlite_every_instance_warns_at_start(sqlite_dev: DevStack) -> None:
    assert sqlite_dev.drain is not None
    warning = "CLOUDGATE_KEYSTORE is an SQLite file"
    sqlite_dev.drain.wait_for_count(warning, _INSTANCES)  # each instance prints it as it starts
    assert sqlite_dev.drain.output.count(warning) == _INSTANCES


def test_each_instance_has_its_own_data_folder_and_key_file(sqlite_dev: DevStack) -> None:
    service = httpx.get(f"{sqlite_dev.emulator_url}/admin/services/dev").raise_for_status().json()
    revision = service["status"]["latestReadyRevisionName"]
    folders = Path(sqlite_dev.session["emulator_state_dir"]) / "revisions" / revision / "instances"
    names = sorted(instance["name"] for instance in sqlite_dev.instances()["dev"])
    assert sorted(p.name for p in folders.iterdir()) == names
    for name in names:
        copies = folders / name / "copies"  # run.cloudgate.dev/instance-copies: one copy per instance
        assert (copies / "CLOUDGATE_KEYSTORE" / "keys.sqlite3").is_file()
        assert any((copies / "CLOUDGATE_DATA_DIR").iterdir())  # the example wrote its sample into its own copy


def test_with_sqlite_the_banner_says_a_key_made_now_reaches_no_instance(sqlite_dev: DevStack) -> None:
    assert sqlite_dev.drain is not None
    sqlite_dev.drain.wait_for("Stop: Ctrl-C")  # the banner's last line, printed just after session.json
    banner = sqlite_dev.drain.output
    assert "each instance has its own copy of the SQLite key file" in banner
    assert "a key made now reaches none of them" in banner and "firestore://" in banner


def test_with_firestore_the_banners_key_line_makes_a_key_every_instance_takes(
    firestore_dev: DevStack, firestore_emulator: FirestoreEmulator
) -> None:
    assert firestore_dev.drain is not None
    firestore_dev.drain.wait_for("Stop: Ctrl-C")
    line = next(line for line in firestore_dev.drain.output.splitlines() if "more keys:" in line)
    argv = shlex.split(line.split("more keys:", 1)[1].replace("NAME", "from-the-banner"))
    assert argv[1:3] == ["keys", "create"]
    env = clean_env(FIRESTORE_EMULATOR_HOST=firestore_emulator.host)
    made = subprocess.run([CLOUDGATE, *argv[1:]], capture_output=True, text=True, env=env, timeout=60, check=True)
    secret = made.stdout.strip()
    assert [whoami(url, secret).status_code for url in instance_urls(firestore_dev)] == [200] * _INSTANCES
