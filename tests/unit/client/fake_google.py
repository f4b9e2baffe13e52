"""A small in-process stand-in for Google's token endpoint, IAM Credentials and metadata server.

Unit tests of the client use it so they do not depend on the emulator; the e2e tests use the real emulator.
It checks what the real thing checks for the client's paths (assertion signature and audience, bearer access
tokens, the token creator grant, ``Metadata-Flavor``) and counts the ID tokens it issues.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_URI = "https://oauth2.googleapis.com/token"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class FakeGoogle:
    """Serves on 127.0.0.1; ``url`` is its base; ``issued[audience]`` counts ID tokens minted."""

    def __init__(self) -> None:
        self._signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys: dict[str, Any] = {}  # kid -> (email, public key)
        self.users: dict[str, str] = {}  # refresh token -> email
        self.access: dict[str, str] = {}  # access token -> member
        self.creators: dict[str, set[str]] = {}  # service account -> members allowed to impersonate it
        self.issued: Counter[str] = Counter()
        self.lifetime = 3600
        self.metadata_email = "instance@p.iam.gserviceaccount.com"
        self.delay = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def key_file(self, email: str) -> dict[str, Any]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = secrets.token_hex(8)
        self.keys[kid] = (email, key.public_key())
        return {
            "type": "service_account",
            "project_id": "p",
            "private_key_id": kid,
            "private_key": _pem(key),
            "client_email": email,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    def user_file(self, email: str) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(16)
        self.users[refresh] = email
        return {
            "type": "authorized_user",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": refresh,
            "token_uri": f"{self.url}/token",
        }

    def mint(self, email: str, audience: str) -> str:
        now = int(time.time())
        self.issued[audience] += 1
        claims = {"iss": "https://accounts.google.com", "aud": audience, "email": email, "sub": email}
        claims |= {"iat": now, "exp": now + self.lifetime}
        return jwt.encode(claims, self._signing, algorithm="RS256")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                time.sleep(fake.delay)
                url = urlsplit(self.path)
                if self.headers.get("Metadata-Flavor") != "Google":
                    return self._send(403, {"error": "missing Metadata-Flavor"})
                if url.path == "/":
                    return self._send(200, "computeMetadata/", {"Metadata-Flavor": "Google"})
                if url.path == "/computeMetadata/v1/instance/service-accounts/default/identity":
                    audience = parse_qs(url.query)["audience"][0]
                    return self._send(200, fake.mint(fake.metadata_email, audience), {"Metadata-Flavor": "Google"})
                return self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                time.sleep(fake.delay)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                if self.path == "/token":
                    return self._token({k: v[0] for k, v in parse_qs(body).items()})
                if self.path.endswith(":generateIdToken"):
                    return self._generate(self.path.rsplit("/", 1)[-1].split(":")[0], json.loads(body))
                return self._send(404, {"error": "not found"})

            def _token(self, form: dict[str, str]) -> None:
                if form.get("grant_type") == "refresh_token":
                    email = fake.users.get(form.get("refresh_token", ""))
                    if email is None:
                        return self._send(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                    return self._access(f"user:{email}")
                assertion = form.get("assertion", "")
                kid = jwt.get_unverified_header(assertion).get("kid")
                if kid not in fake.keys:
                    return self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                email, public = fake.keys[kid]
                claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=TOKEN_URI)
                if "target_audience" in claims:
                    return self._send(200, {"id_token": fake.mint(email, claims["target_audience"])})
                return self._access(f"serviceAccount:{email}")

            def _access(self, member: str) -> None:
                token = "ya29." + secrets.token_urlsafe(16)
                fake.access[token] = member
                self._send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

            def _generate(self, account: str, body: dict[str, Any]) -> None:
                member = fake.access.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                if member is None:
                    return self._send(401, {"error": {"message": "Request had invalid credentials."}})
                if member not in fake.creators.get(account, set()):
                    message = f"Permission 'iam.serviceAccounts.getOpenIdToken' denied on {account}"
                    return self._send(403, {"error": {"message": message, "status": "PERMISSION_DENIED"}})
                return self._send(200, {"token": fake.mint(account, body["audience"])})

        return Handler
