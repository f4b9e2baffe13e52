"""The real gcloud CLI against the emulator: activate a key file, print an identity token, call the service."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import google.auth.transport.requests
import httpx
import jwt
import pytest
from google.oauth2 import id_token

from cloudgate.google import GCLOUD_CLIENT_ID
from tests.e2e.stack import EmulatorStack
from tests.support import clean_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


def _gcloud(config: Path, *args: str) -> str:
    env = clean_env(CLOUDSDK_CONFIG=str(config), CLOUDSDK_CORE_DISABLE_PROMPTS="1")
    done = subprocess.run(["gcloud", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_gcloud_print_identity_token_with_emulator_key(emulator_stack: EmulatorStack, tmp_path: Path) -> None:
    """gcloud activates an emulator key file and prints an ID token that verifies and passes the front end."""
    config = tmp_path / "gcloud"
    _gcloud(config, "config", "set", "core/check_gce_metadata", "false")
    _gcloud(config, "config", "set", "core/disable_usage_reporting", "true")
    _gcloud(config, "auth", "activate-service-account", f"--key-file={emulator_stack.invoker_key}")
    token = _gcloud(config, "auth", "print-identity-token", f"--audiences={emulator_stack.url}")
    claims = id_token.verify_token(
        token, google.auth.transport.requests.Request(), audience=emulator_stack.url, certs_url=emulator_stack.certs_url
    )
    assert claims["email"] == emulator_stack.invoker_email
    response = httpx.get(f"{emulator_stack.url}/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_plain_print_identity_token_passes_every_service_its_principal_may_invoke(
    emulator_stack: EmulatorStack, tmp_path: Path
) -> None:
    """Without --audiences the token's aud is gcloud's OAuth client id; Cloud Run accepts it for invokers only."""
    config = tmp_path / "gcloud"
    _gcloud(config, "config", "set", "core/check_gce_metadata", "false")
    _gcloud(config, "auth", "activate-service-account", f"--key-file={emulator_stack.invoker_key}")
    token = _gcloud(config, "auth", "print-identity-token")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == GCLOUD_CLIENT_ID
    assert httpx.get(f"{emulator_stack.url}/echo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    _gcloud(config, "auth", "activate-service-account", f"--key-file={emulator_stack.outsider_key}")
    outsider = _gcloud(config, "auth", "print-identity-token")
    assert httpx.get(f"{emulator_stack.url}/echo", headers={"Authorization": f"Bearer {outsider}"}).status_code == 403


def test_gcloud_on_metadata_server_prints_identity_token(emulator_stack: EmulatorStack, tmp_path: Path) -> None:
    """With GCE_METADATA_ROOT/IP at the emulator, gcloud runs as the metadata account, as on Cloud Run."""
    host = emulator_stack.emulator_url.removeprefix("http://")
    env = clean_env(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), GCE_METADATA_ROOT=host, GCE_METADATA_IP=host)
    done = subprocess.run(
        ["gcloud", "auth", "print-identity-token", f"--audiences={emulator_stack.url}", "--token-format=full"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    claims = id_token.verify_token(
        done.stdout.strip(),
        google.auth.transport.requests.Request(),
        audience=emulator_stack.url,
        certs_url=emulator_stack.certs_url,
    )
    assert claims["email"] == emulator_stack.invoker_email
    assert claims["azp"] == claims["sub"] and claims["sub"].isdigit()  # the numeric id, as Google's metadata server
