"""Small builders shared by the service unit tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cloudgate.google import SIGNATURE_REMOVED


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def stripped_token(**claims: Any) -> str:
    """A token as Cloud Run forwards it to the container: real claims, signature replaced."""
    now = int(time.time())
    body = {
        "iss": "https://accounts.google.com",
        "aud": "https://svc.example.run.app",
        "sub": "1234567890",
        "email": "caller@proj.iam.gserviceaccount.com",
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    header = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{SIGNATURE_REMOVED}"
