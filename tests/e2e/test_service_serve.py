"""The example service under a real ``cloudgate serve`` process: docs, keys, identity, limits, logs, SIGTERM."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from cloudgate.google import SIGNATURE_REMOVED
from cloudgate.service.keys import open_keystore
from cloudgate.service.passwords import hash_password
from tests.e2e.service_env import AUDIENCE, Served, SigningKey, certs_server, new_signing_key, serve

pytestmark = pytest.mark.e2e

DOCS_PASSWORD = "correct horse battery staple"
DOCS_PATHS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]


class Env:
    def __init__(self, root: Path, signing: SigningKey) -> None:
        self.root = root
        self.signing = signing
        self.keystore = f"sqlite:///{root / 'keys.sqlite3'}"
        store = open_keystore(self.keystore)
        self.reader = store.create("reader", ["datasets:read"])[1]
        self.writer = store.create("writer", ["datasets:write"])[1]
        revoked_record, self.revoked = store.create("revoked", ["datasets:read"])
        store.revoke(revoked_record.key_id, datetime.now(UTC))
        self.expired = store.create("expired", ["datasets:read"], datetime.now(UTC) - timedelta(seconds=1))[1]
        store.close()
        self.docs_users = f"docs:{hash_password(DOCS_PASSWORD)}"

    def service_env(self, **extra: str) -> dict[str, str]:
        return {
            "CLOUDGATE_KEYSTORE": self.keystore,
            "CLOUDGATE_DOCS_USERS": self.docs_users,
            "CLOUDGATE_DATA_DIR": str(self.root / "data"),
            "CLOUDGATE_SAMPLE_ROWS": "1000",
            "CLOUDGATE_AUDIENCES": AUDIENCE,
            # These tests play Cloud Run's front end, appending X-Forwarded-For (off Cloud Run, "auto" would not
            # trust it); the direct-client case is tests/security/test_identity_headers.py's.
            "CLOUDGATE_TRUST_FORWARDED_FOR": "true",
            **extra,
        }

    def secrets(self) -> list[str]:
        return [DOCS_PASSWORD, self.reader, self.writer, self.revoked, self.expired]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(tmp_path_factory.mktemp("svc"), new_signing_key("test-kid"))


@pytest.fixture(scope="module")
def cloud_run(env: Env) -> Iterator[Served]:
    with serve("app.main:create_app", env.service_env(CLOUDGATE_IDENTITY="cloud-run")) as served:
        yield served
    assert_no_secrets(served.output, env.secrets())


@pytest.fixture(scope="module")
def verify(env: Env) -> Iterator[Served]:
    with certs_server([env.signing]) as certs_url:
        extra = {"CLOUDGATE_IDENTITY": "verify", "CLOUDGATE_CERTS_URL": certs_url}
        with serve("app.main:create_app", env.service_env(**extra)) as served:
            yield served
    assert_no_secrets(served.output, env.secrets())


def assert_no_secrets(output: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in output
    for line in output.splitlines():
        if line.startswith("{"):
            assert "severity" in json.loads(line)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("path", DOCS_PATHS)
def test_docs_need_basic_credentials(cloud_run: Served, path: str) -> None:
    response = httpx.get(cloud_run.url + path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("path", DOCS_PATHS)
def test_docs_refuse_a_wrong_password(cloud_run: Served, path: str) -> None:
    # Each wrong attempt comes from a different forwarded client so the throttle does not interfere.
    headers = {**basic("docs", "wrong password!"), "X-Forwarded-For": f"10.0.0.{DOCS_PATHS.index(path) + 1}"}
    assert httpx.get(cloud_run.url + path, headers=headers).status_code == 401


@pytest.mark.parametrize("path", DOCS_PATHS)
def test_docs_open_with_the_right_password(cloud_run: Served, path: str) -> None:
    response = httpx.get(cloud_run.url + path, headers=basic("docs", DOCS_PASSWORD))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic x",
    ],
)
def test_malformed_basic_headers_are_401_not_500(cloud_run: Served, value: str) -> None:
    response = httpx.get(cloud_run.url + "/docs", headers={"Authorization": value, "X-Forwarded-For": "10.1.0.1"})
    assert response.status_code == 401


def test_openapi_documents_the_api_key_scheme(cloud_run: Served) -> None:
    schema = httpx.get(cloud_run.url + "/openapi.json", headers=basic("docs", DOCS_PASSWORD)).json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-API-Key"


ROUTES = [("GET", "/v1/whoami"), ("GET", "/v1/datasets"), ("GET", "/v1/datasets/sample/rows")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_routes_need_a_key(cloud_run: Served, method: str, path: str) -> None:
    assert httpx.request(method, cloud_run.url + path).status_code == 401


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_routes_refuse_a_wrong_key(cloud_run: Served, env: Env, method: str, path: str) -> None:
    forged = env.reader[:-6] + "AAAAAA"
    assert httpx.request(method, cloud_run.url + path, headers={"X-API-Key": forged}).status_code == 401


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_routes_accept_the_right_key(cloud_run: Served, env: Env, method: str, path: str) -> None:
    assert httpx.request(method, cloud_run.url + path, headers={"X-API-Key": env.reader}).status_code == 200


def test_revoked_key_is_refused(cloud_run: Served, env: Env) -> None:
    response = httpx.get(cloud_run.url + "/v1/whoami", headers={"X-API-Key": env.revoked})
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_expired_key_is_refused(cloud_run: Served, env: Env) -> None:
    response = httpx.get(cloud_run.url + "/v1/whoami", headers={"X-API-Key": env.expired})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_read_key_cannot_write_and_write_key_cannot_read(cloud_run: Served, env: Env) -> None:
    upload = httpx.post(
        cloud_run.url + "/v1/datasets/mine", headers={"X-API-Key": env.reader}, files={"file": ("m.csv", b"a\n1\n")}
    )
    assert upload.status_code == 403
    assert httpx.get(cloud_run.url + "/v1/datasets", headers={"X-API-Key": env.writer}).status_code == 403


def test_duplicate_api_key_headers_are_refused(cloud_run: Served, env: Env) -> None:
    headers = [("X-API-Key", env.reader), ("X-API-Key", env.writer)]
    assert httpx.get(cloud_run.url + "/v1/whoami", headers=headers).status_code == 401


def test_cloud_run_mode_trusts_a_signature_stripped_token(cloud_run: Served, env: Env) -> None:
    head, body, _ = env.signing.sign().split(".")
    headers = {"X-API-Key": env.reader, "X-Serverless-Authorization": f"Bearer {head}.{body}.{SIGNATURE_REMOVED}"}
    response = httpx.get(cloud_run.url + "/v1/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == "caller@proj.iam.gserviceaccount.com"


def test_cloud_run_mode_refuses_a_token_that_kept_its_signature(cloud_run: Served, env: Env) -> None:
    headers = {"X-API-Key": env.reader, "X-Serverless-Authorization": f"Bearer {env.signing.sign()}"}
    assert httpx.get(cloud_run.url + "/v1/whoami", headers=headers).status_code == 401


def test_verify_mode_accepts_a_valid_token(verify: Served, env: Env) -> None:
    headers = {"X-API-Key": env.reader, "Authorization": f"Bearer {env.signing.sign()}"}
    response = httpx.get(verify.url + "/v1/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == "caller@proj.iam.gserviceaccount.com"


def _forgeries(env: Env) -> dict[str, str]:
    now = int(time.time())
    other = new_signing_key("test-kid")
    head, body, _ = env.signing.sign().split(".")
    claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "sub": "1", "iat": now, "exp": now + 600}
    return {
        "forged": other.sign(),
        "expired": env.signing.sign(iat=now - 7200, exp=now - 3600),
        "wrong audience": env.signing.sign(aud="https://other-svc.a.run.app"),
        "wrong issuer": env.signing.sign(iss="https://evil.example.com"),
        "alg none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "HS256 with the public key": _hs256_with(env.signing.public_pem, claims),
        "signature stripped": f"{head}.{body}.{SIGNATURE_REMOVED}",
        "garbage": "not.a.jwt",
    }


def _hs256_with(secret: str, claims: dict[str, object]) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "test-kid"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "expired",
        "wrong audience",
        "wrong issuer",
        "alg none",
        "HS256 with the public key",
        "signature stripped",
        "garbage",
    ],
)
def test_verify_mode_refuses_bad_tokens(verify: Served, env: Env, kind: str) -> None:
    token = _forgeries(env)[kind]
    headers = {"X-API-Key": env.reader, "Authorization": f"Bearer {token}"}
    response = httpx.get(verify.url + "/v1/whoami", headers=headers)
    assert response.status_code == 401, kind
    assert token not in response.text


def test_health_is_open(cloud_run: Served) -> None:
    assert httpx.get(cloud_run.url + "/health").json() == {"status": "ok"}


def test_oversized_body_is_413(env: Env) -> None:
    with serve("app.main:create_app", env.service_env(CLOUDGATE_MAX_BODY_BYTES="1000")) as served:
        response = httpx.post(
            served.url + "/v1/datasets/big", headers={"X-API-Key": env.writer}, files={"file": ("b.csv", b"a\n" * 1000)}
        )
    assert response.status_code == 413


def test_sigterm_lets_an_in_flight_request_finish(env: Env) -> None:
    with serve("tests.e2e.slow_app:create_app", env.service_env()) as served:
        result: dict[str, object] = {}

        def call() -> None:
            result["response"] = httpx.get(served.url + "/slow", params={"seconds": 2}, timeout=10)

        thread = threading.Thread(target=call)
        thread.start()
        served.drain.wait_for("slow: started")
        served.proc.send_signal(signal.SIGTERM)
        thread.join(timeout=10)
        served.proc.wait(timeout=10)
    response = result["response"]
    assert isinstance(response, httpx.Response) and response.json() == {"slept": 2.0}
    # uvicorn re-raises the signal once its graceful shutdown is done, so the exit status says SIGTERM.
    assert served.proc.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in served.output


def test_access_log_line_carries_the_trace_and_the_principal(cloud_run: Served, env: Env) -> None:
    trace_id = "105445aa7843bc8bf206b12000100000"
    headers = {"X-API-Key": env.reader, "X-Cloud-Trace-Context": f"{trace_id}/1;o=1"}
    assert httpx.get(cloud_run.url + "/v1/whoami", headers=headers).status_code == 200
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        lines = [
            json.loads(line)
            for line in cloud_run.output.splitlines()
            if line.startswith("{") and trace_id in line and '"httpRequest"' in line
        ]
        time.sleep(0.05)
    assert lines, cloud_run.output[-2000:]
    assert lines[0]["logging.googleapis.com/trace"] == trace_id
    assert lines[0]["principal"] == "key:reader"
    assert lines[0]["severity"] == "INFO"


def test_serve_listens_on_all_interfaces_as_cloud_run_requires(cloud_run: Served) -> None:
    import subprocess

    listening = subprocess.run(["ss", "-ltnH", f"sport = :{cloud_run.port}"], capture_output=True, text=True).stdout
    assert [line.split()[3] for line in listening.splitlines()] == [f"0.0.0.0:{cloud_run.port}"]
