"""A real ``cloudgate serve`` process of the example app, with the keys, users and certs a test needs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.certs_endpoint import CertsEndpoint
from tests.keys import new_rsa_key, public_pem
from tests.support import CLOUDGATE, Drain, free_port, start_process, wait_for_port

AUDIENCE = "https://example-svc-abc123-uc.a.run.app"
ISSUER = "https://accounts.google.com"


def claims(**overrides: Any) -> dict[str, Any]:
    """Google ID token claims for a caller of the test service, valid for an hour from now."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "111",
        "email": "caller@proj.iam.gserviceaccount.com",
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return base


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> str:
        return public_pem(self.private)

    def sign(self, **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), self.private, algorithm="RS256", headers={"kid": self.kid})


def new_signing_key(kid: str) -> SigningKey:
    return SigningKey(kid, new_rsa_key())


@contextmanager
def certs_server(keys: list[SigningKey]) -> Iterator[str]:
    """Serves ``{kid: public key PEM}`` like Google's certs endpoint; yields its URL."""
    with CertsEndpoint({k.kid: k.public_pem for k in keys}, "public, max-age=3600").served() as url:
        yield url


@dataclass
class Served:
    """A running ``cloudgate serve``; its output is read as it comes (a full pipe would stall the server's logging)."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    drain: Drain

    @property
    def output(self) -> str:
        return self.drain.output

    def stop(self) -> str:
        return self.drain.stop()


@contextmanager
def serve(app_ref: str, env: Mapping[str, str], cwd: Path | None = None, args: Sequence[str] = ()) -> Iterator[Served]:
    """``cloudgate serve APP [ARGS]`` on a free port until the block ends."""
    port = free_port()
    proc = start_process([CLOUDGATE, "serve", app_ref, *args], env={**env, "PORT": str(port)}, cwd=cwd)
    served = Served(f"http://127.0.0.1:{port}", port, proc, Drain(proc))
    try:
        wait_for_port(port, proc=proc, timeout=60)
        yield served
    finally:
        served.stop()
