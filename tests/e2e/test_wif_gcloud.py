"""Keyless callers: Workload Identity Federation set up with the real gcloud, then `cloudgate call` with its config.

The pool, the OIDC provider (issuer: the emulator's stand-in for GitHub Actions), the service accounts and the
bindings are made by the real gcloud against the emulator; the credential configuration is the one the real
``gcloud iam workload-identity-pools create-cred-config`` writes, used unchanged (its Google URLs are redirected
with ``CLOUDGATE_STS_ENDPOINT``/``CLOUDGATE_IAM_ENDPOINT``). No key file is made for the calling accounts.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from tests.e2e.gcloud_stack import GcloudStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e

POOL, PROVIDER, SERVICE = "ci-pool", "github", "wif-echo"
REPO = "org/repo"


@dataclass
class Federation:
    """What the module's gcloud set-up made."""

    stack: GcloudStack
    url: str
    number: str
    caller: str
    folder: Path

    @property
    def provider(self) -> str:
        return f"projects/{self.number}/locations/global/workloadIdentityPools/{POOL}/providers/{PROVIDER}"

    def subject_token(self, repository: str, *extra: str) -> str:
        """A GitHub-style token from the emulator's issuer, for the provider's default audience."""
        done = subprocess.run(
            [CLOUDGATE, "emulator", "oidc-token", "--state-dir", str(self.stack.state_dir), "--issuer", "github",
             "--subject", f"repo:{repository}:ref:refs/heads/main", "--audience", f"https://iam.googleapis.com/{self.provider}",
             "--claim", f"repository={repository}", *extra],
            env=clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def cred_config(self, name: str, token: str, account: str | None = None) -> Path:
        """The real `create-cred-config` output for a file-sourced subject token holding ``token``."""
        token_file = self.folder / f"{name}.jwt"
        token_file.write_text(token, encoding="utf-8")
        config = self.folder / f"{name}.json"
        self.stack.gcloud(
            "iam", "workload-identity-pools", "create-cred-config", self.provider,
            f"--service-account={account or self.caller}", f"--credential-source-file={token_file}",
            f"--output-file={config}",
        )  # fmt: skip
        return config

    def call(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`cloudgate call` with the file's Google URLs redirected to the emulator (unless ``env`` says otherwise)."""
        emulator = self.stack.emulator_url
        redirect = {"CLOUDGATE_STS_ENDPOINT": f"{emulator}/sts", "CLOUDGATE_IAM_ENDPOINT": f"{emulator}/iamcredentials"}
        return subprocess.run(
            [CLOUDGATE, "call", f"{self.url}/echo", *args], env=clean_env(**{**redirect, **env}),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def federation(gcloud_stack: GcloudStack, tmp_path_factory: pytest.TempPathFactory) -> Federation:
    stack = gcloud_stack
    url = stack.deploy(SERVICE, "--no-allow-unauthenticated")
    number = stack.gcloud("projects", "describe", stack.project, "--format=value(projectNumber)").stdout.strip()
    pool = f"projects/{number}/locations/global/workloadIdentityPools/{POOL}"
    stack.gcloud("iam", "workload-identity-pools", "create", POOL, "--location=global", "--display-name=CI")
    stack.gcloud(
        "iam", "workload-identity-pools", "providers", "create-oidc", PROVIDER, "--location=global",
        f"--workload-identity-pool={POOL}", f"--issuer-uri={stack.emulator_url}/oidc/github",
        "--attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository",
        "--attribute-condition=assertion.repository.startsWith('org/')",
    )  # fmt: skip
    accounts = {}
    for name in ("ci-caller", "ci-unbound"):
        stack.gcloud("iam", "service-accounts", "create", name)
        accounts[name] = f"{name}@{stack.project}.iam.gserviceaccount.com"
        stack.gcloud(
            "run", "services", "add-iam-policy-binding", SERVICE, f"--member=serviceAccount:{accounts[name]}",
            "--role=roles/run.invoker",
        )  # fmt: skip
    stack.gcloud(
        "iam", "service-accounts", "add-iam-policy-binding", accounts["ci-caller"], "--role=roles/iam.workloadIdentityUser",
        f"--member=principalSet://iam.googleapis.com/{pool}/attribute.repository/{REPO}",
    )  # fmt: skip
    return Federation(stack, url, number, accounts["ci-caller"], tmp_path_factory.mktemp("wif"))


def test_gcloud_cred_config_and_a_ci_token_call_the_private_service(federation: Federation) -> None:
    """The create-cred-config file of a bound repository's token gets a 200 on an invoker-protected route."""
    config = federation.cred_config("ok", federation.subject_token(REPO))
    assert json.loads(config.read_text())["token_url"] == "https://sts.googleapis.com/v1/token"  # Google's, unchanged
    done = federation.call("--credentials", str(config))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == "/echo"


def test_through_the_emulators_google_proxy_the_config_needs_no_redirect(federation: Federation) -> None:
    """HTTPS_PROXY and the emulator's CA (from gcloud-env): google-auth reaches "sts.googleapis.com" and cloudgate
    "iamcredentials.googleapis.com" as written in the file, served by the emulator; nothing reaches Google."""
    config = federation.cred_config("proxied", federation.subject_token(REPO))
    proxy = {name: federation.stack.env[name] for name in ("HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    done = federation.call("--credentials", str(config), CLOUDGATE_STS_ENDPOINT="", CLOUDGATE_IAM_ENDPOINT="", **proxy)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == "/echo"


def test_google_application_credentials_naming_the_config_works_too(federation: Federation) -> None:
    config = federation.cred_config("adc", federation.subject_token(REPO))
    done = federation.call(GOOGLE_APPLICATION_CREDENTIALS=str(config))
    assert done.returncode == 0, done.stderr


def test_no_key_file_is_made_for_the_federated_callers(federation: Federation) -> None:
    """Keyless: the calling accounts have no user-managed key, and no file of the flow holds a private key."""
    config = federation.cred_config("keyless", federation.subject_token(REPO))
    assert federation.call("--credentials", str(config)).returncode == 0
    keys = federation.stack.gcloud(
        "iam", "service-accounts", "keys", "list", f"--iam-account={federation.caller}", "--managed-by=user",
        "--format=value(name)",
    )  # fmt: skip
    assert keys.stdout.strip() == ""
    written = [p for p in federation.folder.rglob("*") if p.is_file()]
    assert written and not [p for p in written if "private_key" in p.read_text(errors="replace")]
    state = json.loads((federation.stack.state_dir / "state.json").read_text())
    assert all(not state["accounts"][a]["keys"] for a in state["accounts"] if a.startswith("ci-"))


def test_a_repository_outside_the_attribute_condition_is_refused_at_sts(federation: Federation) -> None:
    config = federation.cred_config("outsider", federation.subject_token("evil/repo"))
    done = federation.call("--credentials", str(config))
    assert done.returncode != 0
    assert "Security Token Service refused" in done.stderr
    assert "unauthorized_client" in done.stderr and "rejected by the attribute condition" in done.stderr


def test_an_expired_subject_token_is_refused_at_sts(federation: Federation) -> None:
    token = federation.subject_token(REPO, "--lifetime", "300", "--issued-ago", "900")
    done = federation.call("--credentials", str(federation.cred_config("expired", token)))
    assert done.returncode != 0
    assert "Security Token Service refused" in done.stderr and "invalid_grant" in done.stderr


def test_a_principal_without_workload_identity_user_is_refused_at_generate_id_token(federation: Federation) -> None:
    """org/other passes the condition but no binding names it: the STS admits it, generateIdToken does not."""
    config = federation.cred_config("unbound", federation.subject_token("org/other"))
    done = federation.call("--credentials", str(config))
    assert done.returncode != 0
    assert "generateIdToken refused" in done.stderr and "roles/iam.workloadIdentityUser" in done.stderr


def test_cloudgate_token_prints_the_service_accounts_id_token_for_the_service(federation: Federation) -> None:
    config = federation.cred_config("token", federation.subject_token(REPO))
    emulator = federation.stack.emulator_url
    done = subprocess.run(
        [CLOUDGATE, "token", federation.url, "--credentials", str(config)],
        env=clean_env(CLOUDGATE_STS_ENDPOINT=f"{emulator}/sts", CLOUDGATE_IAM_ENDPOINT=f"{emulator}/iamcredentials"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["email"] == federation.caller and claims["aud"] == federation.url
