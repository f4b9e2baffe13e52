"""The client with Workload Identity Federation configs: URL- and executable-sourced subject tokens (the GitHub
Actions and pluggable forms, files written by the real gcloud), caching, and each hop's error, against a real
emulator (google-auth does the STS half over HTTP)."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudgate.client import Client
from cloudgate.emulator.core.federation import WORKLOAD_IDENTITY_USER_ROLE
from cloudgate.emulator.core.state import WorkloadPool, WorkloadProvider
from cloudgate.emulator.identity import iam
from cloudgate.emulator.identity.oidc_issuer import issuer_url, mint_subject_token
from cloudgate.errors import ConfigError, RequestError, TokenSourceError
from cloudgate.google import INVOKER_ROLE
from tests.e2e.stack import SERVICE, EmulatorStack
from tests.support import clean_env, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]

_NUMBER = "123456789012"
_PROVIDER = f"projects/{_NUMBER}/locations/global/workloadIdentityPools/client-pool/providers/github"
_SET = f"principalSet://iam.googleapis.com/projects/{_NUMBER}/locations/global/workloadIdentityPools/client-pool"
#: A test value, as GitHub's ACTIONS_ID_TOKEN_REQUEST_TOKEN.
_RUNNER_SECRET = "runner-request-token"


@dataclass
class Setup:
    stack: EmulatorStack
    caller: str
    not_invoker: str


@pytest.fixture(scope="module")
def setup(emulator_stack: EmulatorStack) -> Setup:
    """A pool whose provider trusts the emulator's github issuer; two accounts the repository may act as, one invoker."""
    store = emulator_stack.store
    provider = WorkloadProvider(
        issuer_uri=issuer_url(emulator_stack.emulator_url, "github"),
        attribute_mapping={"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
    )
    with store.edit() as state:
        state.workload_pools["client-pool"] = WorkloadPool(providers={"github": provider})
    caller, not_invoker = iam.create_account(store, "wif-client"), iam.create_account(store, "wif-not-invoker")
    for account in (caller, not_invoker):
        iam.grant_account_role(store, account, WORKLOAD_IDENTITY_USER_ROLE, f"{_SET}/attribute.repository/org/repo")
    iam.grant_service_role(store, SERVICE, INVOKER_ROLE, f"serviceAccount:{caller}")
    return Setup(emulator_stack, caller, not_invoker)


@pytest.fixture(autouse=True)
def _emulated_google(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_STS_ENDPOINT", f"{setup.stack.emulator_url}/sts")
    monkeypatch.setenv("CLOUDGATE_IAM_ENDPOINT", f"{setup.stack.emulator_url}/iamcredentials")


def _token(setup: Setup) -> str:
    return mint_subject_token(
        setup.stack.state_dir, setup.stack.emulator_url, "github", subject="repo:org/repo:ref:refs/heads/main",
        audience=f"https://iam.googleapis.com/{_PROVIDER}", claims={"repository": "org/repo"},
    )  # fmt: skip


def _cred_config(folder: Path, account: str, *source: str) -> Path:
    """What the real `gcloud iam workload-identity-pools create-cred-config` writes (a local command)."""
    out = folder / "wif.json"
    done = subprocess.run(
        ["gcloud", "iam", "workload-identity-pools", "create-cred-config", _PROVIDER, f"--service-account={account}",
         *source, f"--output-file={out}"],
        env=clean_env(CLOUDSDK_CONFIG=str(folder / "gcloud"), CLOUDSDK_CORE_DISABLE_PROMPTS="1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


class _TokenServer:
    """GitHub's ID token request URL: answers ``{"value": token}`` to the runner's bearer token, counts requests."""

    def __init__(self, token: str) -> None:
        self.hits = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {_RUNNER_SECRET}":
                    self.send_response(401)
                    self.end_headers()
                    return
                owner.hits += 1
                body = json.dumps({"value": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token?audience=x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def token_server(setup: Setup) -> Iterator[_TokenServer]:
    server = _TokenServer(_token(setup))
    yield server
    server.server.shutdown()
    server.server.server_close()


def _url_config(folder: Path, account: str, server: _TokenServer) -> Path:
    return _cred_config(
        folder, account, f"--credential-source-url={server.url}",
        f"--credential-source-headers=Authorization=Bearer {_RUNNER_SECRET}",
        "--credential-source-type=json", "--credential-source-field-name=value",
    )  # fmt: skip


def test_a_url_sourced_config_like_github_actions_calls_the_service(
    setup: Setup, token_server: _TokenServer, tmp_path: Path
) -> None:
    config = _url_config(tmp_path, setup.caller, token_server)
    with Client(setup.stack.url, credentials=config) as client:
        assert client.get("/echo").status_code == 200
    assert token_server.hits == 1


def test_the_id_token_is_cached_across_requests(setup: Setup, token_server: _TokenServer, tmp_path: Path) -> None:
    """One STS exchange and one generateIdToken serve many calls, as with every other source."""
    config = _url_config(tmp_path, setup.caller, token_server)
    with Client(setup.stack.url, credentials=config) as client:
        for _ in range(3):
            client.get("/echo")
        assert client.tokens.fetches == 1
    assert token_server.hits == 1


def _executable(tmp_path: Path, setup: Setup) -> Path:
    answer = {
        "version": 1, "success": True, "token_type": "urn:ietf:params:oauth:token-type:jwt",
        "id_token": _token(setup), "expiration_time": int(time.time()) + 300,
    }  # fmt: skip
    script = tmp_path / "print-token.sh"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(answer)}\nEOF\n")
    script.chmod(0o700)
    return _cred_config(tmp_path, setup.caller, f"--executable-command={script}", "--executable-timeout-millis=10000")


def test_an_executable_sourced_config_calls_the_service(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    with Client(setup.stack.url, credentials=_executable(tmp_path, setup)) as client:
        assert client.get("/echo").status_code == 200


def test_an_executable_that_google_auth_may_not_run_is_a_clear_error(setup: Setup, tmp_path: Path) -> None:
    config = _executable(tmp_path, setup)
    with (
        Client(setup.stack.url, credentials=config) as client,
        pytest.raises(TokenSourceError, match="GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"),
    ):
        client.get("/echo")


def test_an_account_without_the_invoker_role_is_refused_by_the_service(
    setup: Setup, token_server: _TokenServer, tmp_path: Path
) -> None:
    """STS and generateIdToken pass; the front end's 403 names the account and the invoker role."""
    config = _url_config(tmp_path, setup.not_invoker, token_server)
    with (
        Client(setup.stack.url, credentials=config) as client,
        pytest.raises(RequestError, match=r"roles/run\.invoker") as caught,
    ):
        client.get("/echo")
    assert caught.value.status == 403


def test_a_config_without_a_service_account_is_refused_before_any_exchange(setup: Setup, tmp_path: Path) -> None:
    made = _cred_config(tmp_path, setup.caller, "--credential-source-file=/nonexistent/token")
    config = json.loads(made.read_text())
    del config["service_account_impersonation_url"]
    path = tmp_path / "no-account.json"
    path.write_text(json.dumps(config))
    with (
        Client(setup.stack.url, credentials=path) as client,
        pytest.raises(ConfigError, match="names no service account"),
    ):
        client.get("/echo")
