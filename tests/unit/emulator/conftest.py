"""An emulator context on a temporary folder, its Google-side ASGI app, and a signed-assertion helper."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.identity import iam
from cloudgate.emulator.server import google_app

BASE_URL = "http://emulator.test"


@pytest.fixture
def ctx(tmp_path: Path) -> EmulatorContext:
    return EmulatorContext.open(tmp_path / "state", BASE_URL)


@pytest.fixture
def key_file(ctx: EmulatorContext) -> dict[str, Any]:
    """A key file of a service account ``caller-sa``."""
    email = iam.create_account(ctx.store, "caller-sa")
    return iam.create_key(ctx.store, email, token_uri=ctx.token_url)


@pytest.fixture
async def google(ctx: EmulatorContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=google_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def assertion(key_file: dict[str, Any], **overrides: Any) -> str:
    """A jwt-bearer assertion as google-auth builds it, with ``overrides`` applied (``None`` removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": key_file["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
        "target_audience": "https://svc.example",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    headers = {"kid": key_file["private_key_id"]}
    return jwt.encode(claims, key_file["private_key"], algorithm="RS256", headers=headers)
