"""Google's side for the certs fault tests: the real emulator as a process (token endpoint, certs, and a Cloud Run
front end for a service started later), service accounts holding ``roles/run.invoker``, ID tokens minted by the
real google-auth from their key files, and tokens forged the ways an attacker would.

The service is registered with a custom audience, so one token works both against the front end (cloud-run mode)
and against a service that verifies it itself (verify mode, ``CLOUDGATE_AUDIENCES=AUDIENCE``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import httpx
import jwt
from google.oauth2 import service_account

from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.identity import iam
from cloudgate.google import INVOKER_ROLE
from tests.keys import new_rsa_key
from tests.support import CLOUDGATE, Drain, free_port, start_process

AUDIENCE = "https://faults-abc123-uc.a.run.app"
SERVICE = "faults"
CERTS_PATH = "/oauth2/v1/certs"


@dataclass
class Google:
    """A running emulator; ``upstream_port`` is where its front end expects the service."""

    emulator_url: str
    frontend_url: str
    upstream_port: int
    key_files: list[dict[str, Any]]
    drain: Drain

    @property
    def port(self) -> int:
        return int(self.emulator_url.rsplit(":", 1)[1])

    def id_token(self, account: int) -> str:
        """A fresh ID token for ``AUDIENCE`` from account number ``account``, minted by google-auth."""
        creds = service_account.IDTokenCredentials.from_service_account_info(
            self.key_files[account], target_audience=AUDIENCE
        )
        creds.refresh(google.auth.transport.requests.Request())
        return str(creds.token)

    def rotate_keys(self) -> str:
        """A new signing key (the old one stays published); returns its kid."""
        response = httpx.post(f"{self.emulator_url}/admin/keys/rotate", timeout=30).raise_for_status()
        return str(response.json()["kid"])

    def stop(self) -> str:
        return self.drain.stop(timeout=20)


def start_google(folder: Path, *, accounts: int) -> Google:
    """The emulator with ``accounts`` invoker service accounts, fronting ``SERVICE`` at a port chosen now."""
    folder.mkdir(parents=True, exist_ok=True)
    port, frontend_port, upstream_port = free_port(), free_port(), free_port()
    emulator_url, frontend_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{frontend_port}"
    store = StateStore(folder / "state")
    iam.ensure_service(store, SERVICE, url=frontend_url, audiences=[AUDIENCE])
    key_files = []
    for n in range(accounts):
        email = iam.create_account(store, f"caller-{n}")
        key_files.append(iam.create_key(store, email, token_uri=f"{emulator_url}/token"))
        iam.grant_service_role(store, SERVICE, INVOKER_ROLE, f"serviceAccount:{email}")
    argv = [
        CLOUDGATE, "emulator", "run", "--state-dir", str(folder / "state"), "--port", str(port),
        "--service-name", SERVICE, "--service-port", str(frontend_port),
        "--upstream", f"http://127.0.0.1:{upstream_port}", "--audience", AUDIENCE,
    ]  # fmt: skip
    proc = start_process(argv)
    drain = Drain(proc)
    google = Google(emulator_url, frontend_url, upstream_port, key_files, drain)
    try:
        drain.wait_for(f"service {SERVICE}: {frontend_url}", timeout=60)  # its revision is routed
    except TimeoutError:
        raise RuntimeError(f"the emulator did not start:\n{google.stop()}") from None
    return google


def forged(genuine: str, *, kid: str | None = None) -> str:
    """``genuine``'s claims (another subject) signed with a key Google never had, under ``kid`` or the genuine
    token's own kid: a token whose signature cannot verify, or one naming a key id nobody published."""
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims |= {"sub": "999999999999999999999", "email": "attacker@evil.example", "iat": int(time.time())}
    claims["exp"] = claims["iat"] + 3600
    return jwt.encode(claims, new_rsa_key(), algorithm="RS256", headers={"kid": kid or header["kid"]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
