"""Fixtures for the client's unit tests: a fake Google on a local port and credential files written per test."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudgate.client.tokens import IdToken

from .fake_google import FakeGoogle
from .local_service import LocalService


@pytest.fixture(scope="session")
def fake_google() -> Iterator[FakeGoogle]:
    """One fake token endpoint / IAM / metadata server for the session (keys are generated, never stored)."""
    fake = FakeGoogle()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _reset_fake(fake_google: FakeGoogle) -> None:
    fake_google.issued.clear()
    fake_google.lifetime = 3600
    fake_google.delay = 0.0
    fake_google.creators.clear()


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    """Write a credentials file into the test's folder (mode 600, as gcloud does)."""

    def write(name: str, info: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(info))
        path.chmod(0o600)
        return path

    return write


@pytest.fixture(autouse=True)
def _no_gcloud_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gcloud and google-auth see an empty configuration folder, never the machine's login."""
    config = tmp_path / "gcloud-config"
    config.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))
    monkeypatch.setenv("CLOUDSDK_CORE_CHECK_GCE_METADATA", "false")
    # Off Google Cloud: the metadata ping goes to a port where nothing listens.
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


class LocalTokens:
    """A token source that signs tokens locally (a test key), counting what it mints."""

    name = "test signer"
    skip_reason = ""

    def __init__(self, age: float = 0.0) -> None:
        self.minted: list[str] = []
        self.audiences: list[str] = []
        self.age = age
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def fetch(self, audience: str) -> IdToken:
        now = int(time.time() - self.age)
        claims = {"aud": audience, "email": "caller@p.iam.gserviceaccount.com", "iat": now, "exp": now + 3600}
        claims["n"] = len(self.minted)
        value = jwt.encode(claims, self._key, algorithm="RS256")
        self.minted.append(value)
        self.audiences.append(audience)
        return IdToken.from_jwt(value, source=self.name)


@pytest.fixture(scope="session")
def local_service() -> Iterator[LocalService]:
    service = LocalService()
    yield service
    service.close()


@pytest.fixture
def service(local_service: LocalService) -> LocalService:
    local_service.reset()
    return local_service


@pytest.fixture(scope="session")
def other_local_service() -> Iterator[LocalService]:
    service = LocalService()
    yield service
    service.close()


@pytest.fixture
def other_service(other_local_service: LocalService) -> LocalService:
    """A second service on another port: another origin, standing in for a host that collects credentials."""
    other_local_service.reset()
    return other_local_service


@pytest.fixture
def signer() -> LocalTokens:
    return LocalTokens()
