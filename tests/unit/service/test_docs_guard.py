"""The HTTP Basic guard of the docs: header parsing, equal cost for unknown users, cache, throttling, client IP."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import argon2
import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from cloudgate.errors import InvalidCredentialsError, MissingCredentialsError
from cloudgate.service import passwords
from cloudgate.service.client_ip import client_ip
from cloudgate.service.docs import install_docs
from cloudgate.service.docs_guard import parse_basic
from cloudgate.service.settings import ServiceSettings

PASSWORD = "a long docs password"
ASSETS = ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js", "favicon.png"]
_CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return _CHEAP.hash(PASSWORD)


class VerifySpy:
    """Counts argon2 verifications (and where they ran) while calling the real ``verify_password``."""

    def __init__(self, real: Callable[[str, str], bool]) -> None:
        self.real = real
        self.hashes: list[str] = []
        self.threads: list[int] = []

    def __call__(self, password: str, hash: str) -> bool:
        self.hashes.append(hash)
        self.threads.append(threading.get_ident())
        return self.real(password, hash)

    @property
    def calls(self) -> int:
        return len(self.hashes)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[VerifySpy]:
    recorder = VerifySpy(passwords.verify_password)
    monkeypatch.setattr(passwords, "verify_password", recorder)
    yield recorder


def make_client(users: str, **settings: Any) -> httpx.AsyncClient:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_docs(app, ServiceSettings(docs_users=users, **settings))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://docs.test")


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# Parsing


def test_parse_basic_reads_user_and_password_split_at_the_first_colon() -> None:
    assert parse_basic("Basic " + base64.b64encode(b"alice:pa:ss word").decode()) == ("alice", "pa:ss word")
    assert parse_basic("basic   " + base64.b64encode("zoë:ünïcode".encode()).decode()) == ("zoë", "ünïcode")


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic %%%not-base64%%%",
        "Basic YWxpY2U",  # bad padding
        "Basic " + base64.b64encode(b"alice:password").decode() + "=",  # excess padding
        "Basic YWxpY2U6cHd=",  # stray bits in the last character (canonical: YWxpY2U6cHc=)
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b":password-without-user").decode(),
        "Basic " + "A" * 5000,
    ],
    ids=[
        "no-token",
        "empty",
        "bad-base64",
        "bad-padding",
        "excess-padding",
        "stray-bits",
        "no-colon",
        "not-utf8",
        "empty-user",
        "too-long",
    ],
)
def test_parse_basic_refuses_malformed_values_as_invalid_credentials(header: str) -> None:
    with pytest.raises(InvalidCredentialsError) as caught:
        parse_basic(header)
    assert caught.value.scheme == "Basic"


def test_parse_basic_treats_another_scheme_as_no_credentials() -> None:
    with pytest.raises(MissingCredentialsError):
        parse_basic("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw",
    [b"", b"no-colon", b"\xff\xfe:\xff", b":no-user"],
    ids=["empty", "no-colon", "not-utf8", "empty-user"],
)
async def test_malformed_basic_header_is_a_401_with_a_challenge_never_a_500(
    alice_hash: str, spy: VerifySpy, raw: bytes
) -> None:
    async with make_client(f"alice:{alice_hash}") as client:
        response = await client.get("/docs", headers=basic(raw))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="API docs", charset="UTF-8"'
    assert response.json() == {
        "error": "unauthenticated",
        "reason": "password_invalid",
        "detail": "malformed Basic credentials",
    }
    assert spy.calls == 0


# Equal cost for unknown users


@pytest.mark.anyio
async def test_unknown_user_costs_one_verification_against_a_hash_of_the_same_cost(
    alice_hash: str, spy: VerifySpy
) -> None:
    async with make_client(f"alice:{alice_hash}") as client:
        unknown = await client.get("/docs", auth=("mallory", PASSWORD))
        wrong = await client.get("/docs", auth=("alice", "not the password"))
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert spy.calls == 2
    dummy, real = spy.hashes
    assert dummy != alice_hash
    assert real == alice_hash
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(alice_hash)


@pytest.mark.anyio
async def test_argon2_runs_in_a_worker_thread_not_on_the_event_loop(alice_hash: str, spy: VerifySpy) -> None:
    async with make_client(f"alice:{alice_hash}") as client:
        response = await client.get("/docs", auth=("alice", PASSWORD))
    assert response.status_code == 200
    assert spy.threads
    assert threading.get_ident() not in spy.threads


# Cache


@pytest.mark.anyio
async def test_the_page_and_its_four_assets_cost_one_verification(alice_hash: str, spy: VerifySpy) -> None:
    async with make_client(f"alice:{alice_hash}") as client:
        statuses = [(await client.get("/docs", auth=("alice", PASSWORD))).status_code]
        for asset in ASSETS:
            statuses.append((await client.get(f"/docs/assets/{asset}", auth=("alice", PASSWORD))).status_code)
    assert statuses == [200] * 5
    assert spy.calls == 1


@pytest.mark.anyio
async def test_a_wrong_password_is_verified_even_after_the_right_one_was_cached(
    alice_hash: str, spy: VerifySpy
) -> None:
    async with make_client(f"alice:{alice_hash}") as client:
        assert (await client.get("/docs", auth=("alice", PASSWORD))).status_code == 200
        assert (await client.get("/docs", auth=("alice", PASSWORD + "x"))).status_code == 401
    assert spy.calls == 2


@pytest.mark.anyio
async def test_with_the_cache_off_every_request_is_verified(alice_hash: str, spy: VerifySpy) -> None:
    async with make_client(f"alice:{alice_hash}", docs_cache_seconds=0) as client:
        for _ in range(3):
            assert (await client.get("/openapi.json", auth=("alice", PASSWORD))).status_code == 200
    assert spy.calls == 3


# Throttling


@pytest.mark.anyio
async def test_after_max_failures_the_client_gets_429_with_retry_after_and_no_hashing(
    alice_hash: str, spy: VerifySpy
) -> None:
    async with make_client(f"alice:{alice_hash}", docs_max_failures=3, docs_failure_window_seconds=30) as client:
        failures = [(await client.get("/docs", auth=("alice", f"guess {i}"))).status_code for i in range(3)]
        throttled = await client.get("/docs", auth=("alice", "guess 4"))
        right_password = await client.get("/docs", auth=("alice", PASSWORD))
    assert failures == [401, 401, 401]
    assert spy.calls == 3
    for response in (throttled, right_password):
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert response.json()["error"] == "too_many_requests"
        assert "www-authenticate" not in response.headers


@pytest.mark.anyio
async def test_malformed_headers_count_as_failures(alice_hash: str, spy: VerifySpy) -> None:
    async with make_client(f"alice:{alice_hash}", docs_max_failures=2) as client:
        for _ in range(2):
            assert (await client.get("/docs", headers=basic(b"no-colon"))).status_code == 401
        assert (await client.get("/docs", auth=("alice", PASSWORD))).status_code == 429
    assert spy.calls == 0


@pytest.mark.anyio
async def test_missing_credentials_do_not_count_as_failures(alice_hash: str) -> None:
    async with make_client(f"alice:{alice_hash}", docs_max_failures=2) as client:
        for _ in range(5):
            assert (await client.get("/docs")).status_code == 401
        assert (await client.get("/docs", auth=("alice", PASSWORD))).status_code == 200


@pytest.mark.anyio
async def test_throttling_is_per_client_address_from_the_rightmost_forwarded_for(alice_hash: str) -> None:
    async with make_client(f"alice:{alice_hash}", docs_max_failures=2, trust_forwarded_for=True) as client:
        attacker = {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}
        for spoof in ("1.1.1.1", "2.2.2.2"):  # a forged left part does not give a fresh budget
            forged = {"X-Forwarded-For": f"{spoof}, 203.0.113.9"}
            assert (await client.get("/docs", auth=("alice", "bad"), headers=forged)).status_code == 401
        assert (await client.get("/docs", auth=("alice", "bad"), headers=attacker)).status_code == 429
        other = {"X-Forwarded-For": "203.0.113.10"}
        assert (await client.get("/docs", auth=("alice", PASSWORD), headers=other)).status_code == 200


@pytest.mark.anyio
async def test_a_concurrent_burst_of_guesses_is_cut_at_the_limit(alice_hash: str, spy: VerifySpy) -> None:
    statuses: list[int] = []
    async with make_client(f"alice:{alice_hash}", docs_max_failures=3) as client:

        async def guess(i: int) -> None:
            statuses.append((await client.get("/docs", auth=("alice", f"burst {i}"))).status_code)

        async with anyio.create_task_group() as group:
            for i in range(12):
                group.start_soon(guess, i)
    assert sorted(statuses) == [401] * 3 + [429] * 9
    assert spy.calls == 3


# Client address


def _scope(headers: list[tuple[bytes, bytes]], peer: tuple[str, int] | None = ("192.0.2.5", 5555)) -> Any:
    return {"type": "http", "headers": headers, "client": peer}


def test_client_ip_takes_the_rightmost_forwarded_for_entry_when_trusted() -> None:
    scope = _scope([(b"x-forwarded-for", b"6.6.6.6, 10.1.2.3"), (b"x-forwarded-for", b"198.51.100.4, 203.0.113.7")])
    assert client_ip(scope, trust_forwarded_for=True) == "203.0.113.7"


def test_client_ip_uses_the_peer_when_forwarded_for_is_not_trusted() -> None:
    scope = _scope([(b"x-forwarded-for", b"203.0.113.7")])
    assert client_ip(scope, trust_forwarded_for=False) == "192.0.2.5"


def test_client_ip_falls_back_to_the_peer_when_the_forwarded_entry_is_not_an_address() -> None:
    scope = _scope([(b"x-forwarded-for", b"203.0.113.7, not-an-ip")])
    assert client_ip(scope, trust_forwarded_for=True) == "192.0.2.5"


@pytest.mark.parametrize(("setting", "k_service", "trusted"), [("auto", None, False), ("auto", "svc", True),
    (True, None, True), (False, "svc", False)])  # fmt: skip
def test_forwarded_for_is_trusted_on_auto_only_on_cloud_run(
    monkeypatch: pytest.MonkeyPatch, setting: Any, k_service: str | None, trusted: bool
) -> None:
    monkeypatch.delenv("K_SERVICE", raising=False)
    if k_service:
        monkeypatch.setenv("K_SERVICE", k_service)
    assert ServiceSettings(trust_forwarded_for=setting).forwarded_for_trusted() is trusted


@pytest.mark.parametrize(("value", "parsed"), [("auto", "auto"), ("true", True), ("false", False)])
def test_trust_forwarded_for_reads_auto_true_and_false(
    monkeypatch: pytest.MonkeyPatch, value: str, parsed: Any
) -> None:
    monkeypatch.setenv("CLOUDGATE_TRUST_FORWARDED_FOR", value)
    assert ServiceSettings().trust_forwarded_for == parsed


def test_client_ip_is_unknown_without_header_or_peer() -> None:
    assert client_ip(_scope([], peer=None), trust_forwarded_for=True) == "unknown"
