"""What the Cloud Run front end costs per request: no key-folder reads, one RSA check per token, one state look.

And what that caching must not break: a key rotated through the emulator (admin API, or the CLI in another
process) is honoured at once, a key rotated out takes its tokens with it, and expiry and audiences still count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from cloudgate.emulator.core import tokens
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.core.keys import SigningKeys
from cloudgate.emulator.core.state import StateStore
from cloudgate.emulator.core.tokens import IdTokenError
from cloudgate.emulator.identity import iam
from cloudgate.emulator.serving.frontend import CloudRunFrontend
from cloudgate.google import INVOKER_ROLE
from tests.support import free_port

AUDIENCE = "https://svc.example"
ONE = frozenset([AUDIENCE])


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def caller(ctx: EmulatorContext) -> str:
    return iam.create_account(ctx.store, "caller-sa")


@pytest.fixture
def folder_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts listings, stats and mkdirs of the key folder, and globs anywhere in ``keys``."""
    counts = {"listdir": 0, "stat": 0, "mkdir": 0, "glob": 0}
    real_listdir, real_stat, real_mkdir, real_glob = os.listdir, os.stat, Path.mkdir, Path.glob

    def listdir(path: Any) -> list[str]:
        counts["listdir"] += 1
        return real_listdir(path)

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        counts["stat"] += 1
        return real_stat(path, *args, **kwargs)

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        counts["mkdir"] += 1
        real_mkdir(self, *args, **kwargs)

    def glob(self: Path, pattern: str) -> Any:
        counts["glob"] += 1
        return real_glob(self, pattern)

    monkeypatch.setattr("cloudgate.emulator.core.keys.os.listdir", listdir)
    monkeypatch.setattr("cloudgate.emulator.core.keys.os.stat", stat)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(Path, "glob", glob)
    return counts


def _issuer(folder: Path, clock: Clock) -> tuple[tokens.TokenIssuer, SigningKeys, StateStore]:
    store = StateStore(folder)
    signing = SigningKeys(folder / "signing", clock=clock)
    return tokens.TokenIssuer(store, signing, Counters()), signing, store


def test_the_key_folder_is_read_at_most_once_a_second(tmp_path: Path, folder_reads: dict[str, int]) -> None:
    clock = Clock()
    issuer, _, store = _issuer(tmp_path, clock)
    email = iam.create_account(store, "caller-sa")
    token = issuer.mint_id_token(email, AUDIENCE)
    folder_reads.update(listdir=0, stat=0, mkdir=0, glob=0)
    for _ in range(100):
        issuer.verify_id_token(token, ONE)
    assert folder_reads == {"listdir": 0, "stat": 0, "mkdir": 0, "glob": 0}
    clock.now += 1.01
    for _ in range(100):
        issuer.verify_id_token(token, ONE)
    assert folder_reads["listdir"] == 1 and folder_reads["mkdir"] == folder_reads["glob"] == 0


def test_a_verified_token_is_checked_with_rsa_once(
    ctx: EmulatorContext, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_decode = jwt.decode

    def decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr("cloudgate.emulator.core.tokens.jwt.decode", decode)
    token = ctx.issuer.mint_id_token(caller, AUDIENCE)
    claims = [ctx.issuer.verify_id_token(token, ONE) for _ in range(50)]
    assert decoded == [token]
    assert all(c == claims[0] and c["email"] == caller for c in claims)
    claims[0]["email"] = "changed"  # a caller changing its copy changes nothing remembered
    assert ctx.issuer.verify_id_token(token, ONE)["email"] == caller


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    wall = Clock()
    wall.now = 1_800_000_000.0
    store = StateStore(tmp_path)
    issuer = tokens.TokenIssuer(store, SigningKeys(tmp_path / "signing"), Counters(), clock=wall)
    email = iam.create_account(store, "caller-sa")
    with store.edit() as state:
        state.token_lifetime_seconds = 60
    token = issuer.mint_id_token(email, AUDIENCE)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == 1_800_000_060
    wall.now += 59.5
    issuer.verify_id_token(token, ONE)  # remembered, and still good
    wall.now += 0.5
    with pytest.raises(IdTokenError) as refused:
        issuer.verify_id_token(token, ONE)
    assert refused.value.reason == "expired_token"


def test_a_token_seen_first_after_its_expiry_is_refused(tmp_path: Path) -> None:
    wall = Clock()
    store = StateStore(tmp_path)
    issuer = tokens.TokenIssuer(store, SigningKeys(tmp_path / "signing"), Counters(), clock=wall)
    token = issuer.mint_id_token(iam.create_account(store, "caller-sa"), AUDIENCE)
    wall.now += 3600
    with pytest.raises(IdTokenError) as refused:
        issuer.verify_id_token(token, ONE)
    assert refused.value.reason == "expired_token"


def test_a_remembered_token_is_checked_against_the_current_audiences(ctx: EmulatorContext, caller: str) -> None:
    token = ctx.issuer.mint_id_token(caller, AUDIENCE)
    ctx.issuer.verify_id_token(token, ONE)
    with pytest.raises(IdTokenError) as refused:
        ctx.issuer.verify_id_token(token, frozenset(["https://other.example"]))
    assert refused.value.reason == "wrong_audience"
    assert ctx.issuer.verify_id_token(token, frozenset(["https://other.example", AUDIENCE]))["aud"] == AUDIENCE


def test_the_verified_cache_is_bounded(ctx: EmulatorContext, caller: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 3)
    minted = [ctx.issuer.mint_id_token(caller, f"{AUDIENCE}/{n}") for n in range(5)]
    for n, token in enumerate(minted):
        ctx.issuer.verify_id_token(token, frozenset([f"{AUDIENCE}/{n}"]))
    assert len(ctx.issuer._verified) == 3


def test_a_rotation_through_the_emulator_is_honoured_at_once(ctx: EmulatorContext, caller: str) -> None:
    """Admin API rotation: new tokens use the new kid and pass; a key rotated out takes its tokens with it."""
    old = ctx.issuer.mint_id_token(caller, AUDIENCE)
    ctx.issuer.verify_id_token(old, ONE)  # remembered
    new_kid = ctx.keys.rotate()
    new = ctx.issuer.mint_id_token(caller, AUDIENCE)
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    assert ctx.issuer.verify_id_token(new, ONE)["sub"]
    assert ctx.issuer.verify_id_token(old, ONE)["sub"]  # the previous key stays published
    ctx.keys.rotate()
    with pytest.raises(IdTokenError) as refused:
        ctx.issuer.verify_id_token(old, ONE)
    assert refused.value.reason == "unknown_signing_key"


def test_a_rotation_by_another_process_is_honoured_at_once(tmp_path: Path) -> None:
    """``cloudgate emulator rotate-keys`` writes the folder from its own process; the running one sees it at once,
    for signing and for tokens carrying the new kid, though its once-a-second rescan is not due yet."""
    clock = Clock()
    issuer, running, store = _issuer(tmp_path, clock)
    email = iam.create_account(store, "caller-sa")
    issuer.verify_id_token(issuer.mint_id_token(email, AUDIENCE), ONE)
    cli = SigningKeys(tmp_path / "signing")
    new_kid = cli.rotate()
    foreign = cli.sign({"iss": "https://accounts.google.com", "aud": AUDIENCE, "sub": "1", "iat": 1, "exp": 2**40})
    assert issuer.verify_id_token(foreign, ONE)["sub"] == "1"
    assert jwt.get_unverified_header(issuer.mint_id_token(email, AUDIENCE))["kid"] == new_kid == running.current_kid


@pytest.mark.anyio
async def test_the_front_end_looks_at_the_state_once_per_request(
    ctx: EmulatorContext, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # no revision runs: a checked request ends in 503
    iam.ensure_service(ctx.store, "svc", url=url)
    iam.grant_service_role(ctx.store, "svc", INVOKER_ROLE, f"serviceAccount:{caller}")
    token = ctx.issuer.mint_id_token(caller, url)
    looks = {"n": 0}
    real_current = ctx.store.current

    def current() -> Any:
        looks["n"] += 1
        return real_current()

    monkeypatch.setattr(ctx.store, "current", current)
    front = CloudRunFrontend(ctx, "svc")
    try:
        transport = httpx.ASGITransport(app=front)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=url) as client:
            headers = {"X-Serverless-Authorization": f"Bearer {token}"}
            assert (await client.get("/x", headers=headers)).status_code == 503
            assert looks["n"] == 1
            assert (await client.get("/x")).status_code == 403
            assert looks["n"] == 2
    finally:
        await front.aclose()
