"""A real ``cloudgate serve`` process of the example app, with the keys, users and certs a test needs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.keys import certs_http_server, new_rsa_key, public_pem
from tests.support import CLOUDGATE, free_port, start_process, stop_process, wait_for_port

AUDIENCE = "https://example-svc-abc123-uc.a.run.app"
ISSUER = "https://accounts.google.com"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> str:
        return public_pem(self.private)

    def sign(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "111",
            "email": "caller@proj.iam.gserviceaccount.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


def new_signing_key(kid: str) -> SigningKey:
    return SigningKey(kid, new_rsa_key())


@contextmanager
def certs_server(keys: list[SigningKey]) -> Iterator[str]:
    """Serves ``{kid: public key PEM}`` like Google's certs endpoint; yields its URL."""
    with certs_http_server({k.kid: k.public_pem for k in keys}, cache_control="public, max-age=3600") as url:
        yield url


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    output: str = ""

    def stop(self) -> str:
        self.output = stop_process(self.proc)
        return self.output


@contextmanager
def serve(app_ref: str, env: Mapping[str, str], cwd: Path | None = None) -> Iterator[Served]:
    port = free_port()
    proc = start_process([CLOUDGATE, "serve", app_ref], env={**env, "PORT": str(port)}, cwd=cwd)
    served = Served(f"http://127.0.0.1:{port}", port, proc)
    try:
        wait_for_port(port, proc=proc, timeout=60)
        yield served
    finally:
        if proc.poll() is None or not served.output:
            served.stop()
