"""Attacks on a real ``cloudgate serve`` process (cloud-run mode): API keys, docs Basic login, paths and methods.

Each test names the attack in its docstring and asserts the secure outcome. The docs throttle is per client
address; the service trusts the rightmost ``X-Forwarded-For`` entry (the default, as behind Cloud Run), so each
test uses its own address to keep its failures apart from the others'.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from cloudgate.google import SIGNATURE_REMOVED
from cloudgate.service.keys import open_keystore
from tests.e2e.service_env import AUDIENCE
from tests.security.conftest import DOCS_PASSWORD, DOCS_USER, Secrets, Served, basic, claims, unsigned_jwt
from tests.support import wait_until

pytestmark = pytest.mark.e2e

DOCS_PATHS = [
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/docs/assets/swagger-ui-bundle.js",
    "/docs/assets/swagger-init.js",
]


def _get(service: Served, path: str, **headers: str) -> httpx.Response:
    return httpx.get(service.url + path, headers=headers, timeout=10)


# -- API keys --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(None, id="no-key"),
        pytest.param("cgk_0000000000000000_" + "A" * 43, id="unknown-id"),
        pytest.param("garbage", id="not-key-shaped"),
        pytest.param("", id="empty"),
    ],
)
def test_missing_or_made_up_keys_get_401(cloud_run_service: Served, presented: str | None) -> None:
    """Attack: call a key-protected route with no key, a made-up key or junk. Secure: 401, no data."""
    headers = {} if presented is None else {"X-API-Key": presented}
    response = _get(cloud_run_service, "/v1/datasets", **headers)
    assert response.status_code == 401
    assert "datasets" not in response.json()


def test_valid_key_id_with_another_secret_is_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: keep a real key's id (it is not secret: logs and errors name it) and guess or append to the secret."""
    real = secrets.keys["reader"]
    prefix, key_id, secret = real.split("_", 2)
    for variant in [
        f"{prefix}_{key_id}_{'A' * len(secret)}",
        real + "A",
        real[:-1],
        f"{prefix}_{key_id.upper()}_{secret}",
        f"CGK_{key_id}_{secret}",
        f"{prefix}_{key_id}_{secret},{real}",
    ]:
        response = _get(cloud_run_service, "/v1/datasets", **{"X-API-Key": variant})
        assert response.status_code == 401, variant
        assert secret not in response.text


def test_two_key_headers_are_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: send a reader key and an all-scopes key in two X-API-Key headers (or case variants of the name),
    hoping one layer checks the first and another uses the last. Secure: 401."""
    for names in [("X-API-Key", "X-API-Key"), ("x-api-key", "X-Api-Key")]:
        headers = [(names[0], secrets.keys["none"]), (names[1], secrets.keys["all"])]
        response = httpx.get(f"{cloud_run_service.url}/v1/datasets", headers=headers)
        assert response.status_code == 401


def test_key_in_query_string_or_authorization_is_not_read(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: put the key where it would leak into logs and histories (query) or in Authorization. Secure: 401."""
    key = secrets.keys["all"]
    for params in [{"api_key": key}, {"key": key}, {"X-API-Key": key}]:
        assert httpx.get(f"{cloud_run_service.url}/v1/datasets", params=params).status_code == 401
    assert _get(cloud_run_service, "/v1/datasets", Authorization=f"Bearer {key}").status_code == 401
    assert _get(cloud_run_service, "/v1/datasets", Authorization=f"ApiKey {key}").status_code == 401


def test_scopes_are_enforced(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: use a read-only or scope-less key to upload and delete. Secure: 403, nothing changed."""
    for role in ("reader", "none"):
        headers = {"X-API-Key": secrets.keys[role], "Content-Type": "text/csv"}
        upload = httpx.post(f"{cloud_run_service.url}/v1/datasets/sample", headers=headers, content=b"a\n1\n")
        assert upload.status_code == 403
        delete = httpx.delete(f"{cloud_run_service.url}/v1/datasets/sample", headers=headers)
        assert delete.status_code == 403
    writer = {"X-API-Key": secrets.keys["writer"]}
    assert httpx.delete(f"{cloud_run_service.url}/v1/datasets/sample", headers=writer).status_code == 403
    assert _get(cloud_run_service, "/v1/datasets/sample", **{"X-API-Key": secrets.keys["reader"]}).status_code == 200


def test_revoked_and_expired_keys_are_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: keep using a revoked or expired key. Secure: 401, and the answer does not echo the key."""
    for role in ("revoked", "expired"):
        response = _get(cloud_run_service, "/v1/datasets", **{"X-API-Key": secrets.keys[role]})
        assert response.status_code == 401, role
        assert secrets.keys[role] not in response.text


def test_revocation_takes_effect_once_the_cache_time_has_passed(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: keep using a key after it was revoked by the CLI while the service caches records (0.3 s here).
    Secure: refused once the cache time has passed (how long the cache keeps a record: tests/unit/service/keys)."""
    key = secrets.keys["to_revoke"]
    assert _get(cloud_run_service, "/v1/datasets", **{"X-API-Key": key}).status_code == 200
    store = open_keystore(secrets.keystore)
    store.revoke(secrets.key_ids["to_revoke"], datetime.now(UTC))
    store.close()
    wait_until(lambda: _get(cloud_run_service, "/v1/datasets", **{"X-API-Key": key}).status_code == 401, what="refused")


def test_a_flood_of_made_up_key_ids_does_not_break_real_keys(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: many made-up key ids (each cached as unknown) to evict or poison the key cache. Secure: real keys
    keep working and made-up ones keep failing."""
    with httpx.Client(base_url=cloud_run_service.url) as client:
        for index in range(300):
            fake = f"cgk_{index:016x}_{'x' * 43}"
            assert client.get("/v1/whoami", headers={"X-API-Key": fake}).status_code == 401
        assert client.get("/v1/whoami", headers={"X-API-Key": secrets.keys["reader"]}).status_code == 200


# -- header precedence in the service (what reaches it when the front end is bypassed) --------------------------


def test_a_signed_token_sent_straight_to_the_container_is_refused(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: in cloud-run mode, present a token that still carries a signature (so it never passed Cloud Run's
    IAM check), with alg none, or with an empty signature. Secure: 401 for each."""
    key = {"X-API-Key": secrets.keys["reader"]}
    for token in [
        unsigned_jwt(claims(), signature="c2lnbmF0dXJl"),
        unsigned_jwt(claims(), header={"alg": "none"}, signature=""),
        unsigned_jwt(claims(), signature=SIGNATURE_REMOVED + "x"),
        unsigned_jwt(claims(), signature=SIGNATURE_REMOVED.lower()),
    ]:
        for header in ("X-Serverless-Authorization", "Authorization"):
            response = _get(cloud_run_service, "/v1/whoami", **key, **{header: f"Bearer {token}"})
            assert response.status_code == 401, (header, token[-30:])


def test_stripped_token_claims_are_still_checked(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: a stripped token (as if from Cloud Run) that is expired, for another audience, with an unverified
    email, without exp/sub, with exp as a string or bool. Secure: 401 each (audiences are configured here)."""
    key = {"X-API-Key": secrets.keys["reader"]}
    now = int(time.time())
    for bad in [
        claims(exp=now - 120),
        claims(aud="https://other-svc.a.run.app"),
        claims(aud=["https://other-svc.a.run.app"]),
        claims(aud=[]),
        claims(email_verified=False),
        claims(email_verified="false"),
        claims(exp=str(now + 3600)),
        claims(exp=True),
        claims(sub=""),
        claims(email=["caller@proj.iam.gserviceaccount.com"]),
    ]:
        token = unsigned_jwt(bad, signature=SIGNATURE_REMOVED)
        response = _get(cloud_run_service, "/v1/whoami", **key, **{"X-Serverless-Authorization": f"Bearer {token}"})
        assert response.status_code == 401, bad
        assert token not in response.text


def test_serverless_header_wins_even_when_it_is_bad(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: a junk X-Serverless-Authorization (which Cloud Run checks) plus a forged stripped token in
    Authorization, hoping the service falls back to Authorization. Secure: the service reads only the first (401),
    the same header Cloud Run checked."""
    key = {"X-API-Key": secrets.keys["reader"]}
    forged = unsigned_jwt(claims(email="admin@victim.example"), signature=SIGNATURE_REMOVED)
    for serverless in ("Basic dTpw", "Bearer", "Bearer not.a.jwt", "Bearer " + "A" * 20000):
        response = _get(
            cloud_run_service,
            "/v1/whoami",
            **key,
            **{"X-Serverless-Authorization": serverless, "Authorization": f"Bearer {forged}"},
        )
        if response.status_code == 200:
            assert response.json()["email"] != "admin@victim.example", serverless
        else:
            assert response.status_code == 401


def test_duplicate_serverless_headers_do_not_pick_the_forged_one(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: two X-Serverless-Authorization headers. Cloud Run (and the emulator) refuse that; a container
    reached this way must not report the second one's identity as if checked."""
    good = unsigned_jwt(claims(), signature=SIGNATURE_REMOVED)
    evil = unsigned_jwt(claims(email="admin@victim.example"), signature=SIGNATURE_REMOVED)
    headers = [
        ("X-API-Key", secrets.keys["reader"]),
        ("X-Serverless-Authorization", f"Bearer {good}"),
        ("x-serverless-authorization", f"Bearer {evil}"),
    ]
    response = httpx.get(f"{cloud_run_service.url}/v1/whoami", headers=headers)
    # The front end refuses this pair before the container; here we only require no crash and a clear answer.
    assert response.status_code in (200, 401)


def test_non_finite_exp_is_a_401_not_a_crash(cloud_run_service: Served, secrets: Secrets) -> None:
    """Attack: a stripped token whose exp is 1e400 (JSON number that Python reads as infinity). Secure: 401."""
    head = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"exp":1e400,"aud":"%s","sub":"1"}' % AUDIENCE.encode()).rstrip(b"=").decode()
    token = f"{head}.{body}.{SIGNATURE_REMOVED}"
    response = _get(
        cloud_run_service,
        "/v1/whoami",
        **{"X-API-Key": secrets.keys["reader"], "X-Serverless-Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401


# -- docs behind Basic -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS_PATHS)
def test_docs_need_the_login_whatever_else_is_sent(cloud_run_service: Served, secrets: Secrets, path: str) -> None:
    """Attack: open every docs page and asset with no login, with a valid API key, or with a bearer token in
    Authorization instead of Basic. Secure: 401 with a Basic challenge, no schema."""
    forwarded = {"X-Forwarded-For": "198.51.100.1"}
    stripped = unsigned_jwt(claims(), signature=SIGNATURE_REMOVED)
    for headers in [
        {},
        {"X-API-Key": secrets.keys["all"]},
        {"Authorization": f"Bearer {stripped}"},
        {"X-Serverless-Authorization": f"Bearer {stripped}"},
    ]:
        response = _get(cloud_run_service, path, **forwarded, **headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Basic ")
        assert "paths" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/docs/",
        "/docs/../openapi.json",
        "/docs/assets/../../openapi.json",
        "/docs/./",
        "/openapi.json/",
        "/docs%2F",
        "//docs",
        "/DOCS",
        "/openapi.json;x",
        "/openapi.json%00",
        "/docs/assets/../../../../etc/passwd",
        "/docs/assets/%2e%2e/%2e%2e/openapi.json",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_path_and_method_tricks_never_reach_the_docs(cloud_run_service: Served, path: str, method: str) -> None:
    """Attack: dot segments, trailing slashes, encoded slashes, double slashes, case, other methods on the docs.
    Secure: never a 200 with docs content without the login (a redirect to the guarded path is fine)."""
    with httpx.Client(base_url=cloud_run_service.url) as client:
        request = client.build_request(method, "/", headers={"X-Forwarded-For": "198.51.100.2"})
        request.url = request.url.copy_with(raw_path=path.encode())
        response = client.send(request, follow_redirects=False)
    assert response.status_code in (301, 307, 308, 400, 401, 404, 405), response.status_code
    if response.is_redirect:
        assert response.headers["location"].rstrip("/").endswith(("/docs", "/openapi.json", "/redoc"))
    assert "openapi" not in response.text.lower() or response.status_code in (401, 404)
    assert "swagger" not in response.text.lower()


_NEAR_MISSES = [
    "Basic",
    "Basic !!!!",
    "Basic  " + base64.b64encode(f"{DOCS_USER}:x".encode()).decode(),
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b":" + DOCS_PASSWORD.encode()).decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + base64.b64encode(f"{DOCS_USER}:{DOCS_PASSWORD}".encode()).decode() + "=",
    "Basic " + base64.b64encode(f"{DOCS_USER} :{DOCS_PASSWORD}".encode()).decode(),
    "Basic " + base64.b64encode(f"{DOCS_USER}:{DOCS_PASSWORD} ".encode()).decode(),
    "Basic " + base64.b64encode(f"{DOCS_USER.upper()}:{DOCS_PASSWORD}".encode()).decode(),
    "Basic " + "A" * 5000,
    "Digest username=docs",
    "Bearer " + base64.b64encode(f"{DOCS_USER}:{DOCS_PASSWORD}".encode()).decode(),
]


@pytest.mark.parametrize("authorization", _NEAR_MISSES)
def test_malformed_or_near_miss_basic_credentials(cloud_run_service: Served, authorization: str) -> None:
    """Attack: Basic parsing edge cases (no token, bad base64, no colon, empty user, non-UTF-8, padding, spaces,
    case, huge value, other schemes). Secure: 401, never 200 or 500, no password echoed. Each case comes from an
    address of its own, so the login throttle's 429 (earned by the cases before) cannot hide a case's answer."""
    address = f"198.51.100.{100 + _NEAR_MISSES.index(authorization)}"
    response = _get(cloud_run_service, "/openapi.json", Authorization=authorization, **{"X-Forwarded-For": address})
    assert response.status_code == 401
    assert DOCS_PASSWORD not in response.text


def test_the_right_login_opens_the_docs(cloud_run_service: Served) -> None:
    """Control: the real login works, case-insensitive scheme included, and pages are not cacheable."""
    for scheme in ("Basic", "basic", "BASIC"):
        token = basic(DOCS_USER, DOCS_PASSWORD).split(" ", 1)[1]
        response = _get(
            cloud_run_service, "/openapi.json", Authorization=f"{scheme} {token}", **{"X-Forwarded-For": "198.51.100.4"}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"


def test_failed_logins_are_throttled_before_hashing(cloud_run_service: Served) -> None:
    """Attack: guess passwords from one address (a login costs ~0.1 s of argon2). Secure: after 5 failures 429
    with Retry-After, and even the right password is refused while throttled (no oracle)."""
    me = {"X-Forwarded-For": "198.51.100.10"}
    codes = [
        _get(cloud_run_service, "/docs", Authorization=basic(DOCS_USER, f"guess{i}"), **me).status_code
        for i in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429, 429]
    right = _get(cloud_run_service, "/docs", Authorization=basic(DOCS_USER, DOCS_PASSWORD), **me)
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1


def test_a_burst_of_parallel_guesses_cannot_outrun_the_throttle(cloud_run_service: Served) -> None:
    """Attack: 16 wrong logins at once from one address, so they are all hashing before any failure is recorded.
    Secure: at most 5 are hashed (401); the rest get 429 before any argon2 work."""
    me = {"X-Forwarded-For": "198.51.100.11"}

    def attempt(index: int) -> int:
        return _get(cloud_run_service, "/docs", Authorization=basic(f"user{index}", "wrong"), **me).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(16)))
    assert codes.count(401) <= 5, codes
    assert set(codes) <= {401, 429}


def test_unknown_users_cost_the_same_as_wrong_passwords(cloud_run_service: Served) -> None:
    """Attack: tell existing user names from unknown ones by timing. Secure: both take argon2 time (no fast path
    for unknown users). Loose bound: an unknown user must not be answered 4x faster than a wrong password."""

    def timed(user: str, forwarded: str) -> float:
        started = time.perf_counter()
        response = _get(
            cloud_run_service, "/docs", Authorization=basic(user, "wrong"), **{"X-Forwarded-For": forwarded}
        )
        assert response.status_code == 401
        return time.perf_counter() - started

    known = min(timed(DOCS_USER, f"198.51.100.{20 + i}") for i in range(2))
    unknown = min(timed(f"nobody{i}", f"198.51.100.{30 + i}") for i in range(2))
    assert unknown > known / 4, (known, unknown)


def test_health_reveals_nothing(cloud_run_service: Served) -> None:
    """Attack: probe the unauthenticated health check for internals. Secure: only a status."""
    response = _get(cloud_run_service, "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
