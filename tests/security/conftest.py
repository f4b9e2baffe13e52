"""Fixtures for the security review: real servers (``cloudgate serve``, the emulator, ``cloudgate dev``, the proxy)
with known secrets, so every test can attack them and then grep their output for those secrets.

Everything listens on 127.0.0.1 and is shared per session; each test keeps its traffic small.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from cloudgate.service.keys import open_keystore
from cloudgate.service.passwords import hash_password
from tests.certs_endpoint import CertsEndpoint
from tests.e2e.service_env import AUDIENCE, Served, SigningKey, claims, new_signing_key, serve
from tests.e2e.stack import DevStack, EmulatorStack
from tests.security.scorecard import Attack, AttackOutcome  # noqa: F401  (its fixtures and hooks: tests/conftest.py)
from tests.support import CLOUDGATE, Drain, clean_env, free_port, running, start_process, wait_for_port

DOCS_USER = "docs"
DOCS_PASSWORD = "correct horse battery staple"
KID = "sec-kid"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(claims: dict[str, Any], header: dict[str, Any] | None = None, signature: str = "") -> str:
    """A JWT built by hand: any header, any claims, any third segment (for tokens no key signed)."""
    head = b64url(json.dumps(header or {"alg": "RS256", "kid": KID, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{signature}"


@dataclass
class Secrets:
    """The keys, password and hashes a service was started with: none may ever show up in its output."""

    root: Path
    keystore: str
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    docs_hash: str = ""

    def all(self) -> list[str]:
        # The random part of each key is enough to spot it; the whole hash too.
        parts = [key.split("_", 2)[2] for key in self.keys.values()]
        return [*self.keys.values(), *parts, DOCS_PASSWORD, self.docs_hash]

    def service_env(self, **extra: str) -> dict[str, str]:
        return {
            "CLOUDGATE_KEYSTORE": self.keystore,
            "CLOUDGATE_DOCS_USERS": f"{DOCS_USER}:{self.docs_hash}",
            "CLOUDGATE_DATA_DIR": str(self.root / "data"),
            "CLOUDGATE_SAMPLE_ROWS": "1000",
            "CLOUDGATE_KEY_CACHE_SECONDS": "0.3",
            # These tests play Cloud Run's front end, appending X-Forwarded-For (off Cloud Run, "auto" would not
            # trust it); the direct-client case is tests/security/test_identity_headers.py's.
            "CLOUDGATE_TRUST_FORWARDED_FOR": "true",
            **extra,
        }

    @contextmanager
    def served_app(self, data: Path, **settings: str) -> Iterator[Served]:
        """``cloudgate serve`` of the example app with these keys and docs users, its own data folder and
        ``settings`` (environment variables), until the block ends."""
        with serve("app.main:create_app", self.service_env(CLOUDGATE_DATA_DIR=str(data), **settings)) as served:
            yield served


def make_secrets(root: Path) -> Secrets:
    secrets = Secrets(root=root, keystore=f"sqlite:///{root / 'keys.sqlite3'}")
    store = open_keystore(secrets.keystore)
    roles = {
        "all": ["datasets:read", "datasets:write", "datasets:admin"],
        "reader": ["datasets:read"],
        "writer": ["datasets:write"],
        "none": [],
        "revoked": ["datasets:read"],
        "to_revoke": ["datasets:read"],
    }
    for role, scopes in roles.items():
        record, key = store.create(role, scopes)
        secrets.keys[role], secrets.key_ids[role] = key, record.key_id
    record, key = store.create("expired", ["datasets:read"], datetime.now(UTC) - timedelta(seconds=1))
    secrets.keys["expired"], secrets.key_ids["expired"] = key, record.key_id
    store.revoke(secrets.key_ids["revoked"], datetime.now(UTC))
    store.close()
    secrets.docs_hash = hash_password(DOCS_PASSWORD)
    return secrets


@pytest.fixture(scope="session")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Secrets:
    return make_secrets(tmp_path_factory.mktemp("security"))


@pytest.fixture(scope="session")
def cloud_run_service(secrets: Secrets) -> Iterator[Served]:
    """The example app in cloud-run mode (the default), reached directly, as only Cloud Run's front end should."""
    with serve("app.main:create_app", secrets.service_env(CLOUDGATE_AUDIENCES=AUDIENCE)) as served:
        yield served
    for secret in secrets.all():
        assert secret not in served.output


@dataclass
class CertsServer:
    url: str
    hits: list[str]


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return new_signing_key(KID)


@pytest.fixture(scope="session")
def certs(signing_key: SigningKey) -> Iterator[CertsServer]:
    """Google's certs endpoint stand-in that counts its fetches (a kid flood must not become a fetch flood)."""
    endpoint = CertsEndpoint({signing_key.kid: signing_key.public_pem}, "public, max-age=3600")
    with endpoint.served() as url:
        yield CertsServer(url, endpoint.paths)


@pytest.fixture(scope="session")
def verify_service(secrets: Secrets, certs: CertsServer) -> Iterator[Served]:
    """The example app verifying RS256 tokens itself against the counting certs server."""
    with secrets.served_app(
        secrets.root / "data-verify",
        CLOUDGATE_IDENTITY="verify",
        CLOUDGATE_AUDIENCES=AUDIENCE,
        CLOUDGATE_CERTS_URL=certs.url,
        CLOUDGATE_CERTS_REFETCH_COOLDOWN_SECONDS="30",
    ) as served:
        yield served
    for secret in secrets.all():
        assert secret not in served.output


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorStack]:
    """The emulator with a Cloud Run front end over the echo service (shows what the container receives)."""
    yield from running(EmulatorStack.start(tmp_path_factory.mktemp("sec-emulator")))


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """``cloudgate dev``: the example service in cloud-run mode behind the emulator's front end."""
    yield from running(DevStack.start(tmp_path_factory.mktemp("sec-dev")))


def id_token(key_file: Path, audience: str) -> str:
    """A real ID token from the emulator, fetched by google-auth with a service-account key file."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    creds = service_account.IDTokenCredentials.from_service_account_file(str(key_file), target_audience=audience)
    creds.refresh(google.auth.transport.requests.Request())
    return str(creds.token)


def emulator_kid(emulator_url: str) -> str:

    keys = httpx.get(f"{emulator_url}/oauth2/v1/certs").raise_for_status().json()
    return str(next(iter(keys)))


def forged(kid: str, **claim_overrides: Any) -> str:
    """A token that names the emulator's kid but is signed with a key nobody trusts."""
    key = new_signing_key(kid)
    return jwt.encode(claims(**claim_overrides), key.private, algorithm="RS256", headers={"kid": kid})


PROXY_API_KEY = "cgk_0123456789abcdef_proxyApiKeySecretThatMustNotLeak"


@dataclass
class RunningProxy:
    url: str
    drain: Drain


@pytest.fixture(scope="session")
def proxy(emulator: EmulatorStack) -> Iterator[RunningProxy]:
    """``cloudgate proxy`` in front of the emulator's front end, with the invoker's key and an API key."""
    port = free_port()
    argv = [
        CLOUDGATE, "proxy", emulator.url, "--port", str(port),
        "--credentials", str(emulator.invoker_key), "--api-key", PROXY_API_KEY,
    ]  # fmt: skip
    env = clean_env(GCE_METADATA_IP="127.0.0.1:9", CLOUDSDK_CORE_CHECK_GCE_METADATA="false")
    proc = start_process(argv, env=env)
    drain = Drain(proc)
    try:
        wait_for_port(port, proc=proc, timeout=30)
        yield RunningProxy(f"http://127.0.0.1:{port}", drain)
    finally:
        output = drain.stop()
    assert PROXY_API_KEY not in output
    assert "eyJ" not in output


@contextmanager
def recording_server() -> Iterator[tuple[int, list[str]]]:
    """Another local host an attack tries to reach: yields its port and the paths it was sent (should stay empty)."""

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
