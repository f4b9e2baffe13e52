"""Identity headers read strictly, loud warnings where cloud-run mode is exposed, and a throttle a client cannot dodge.

Attacks, against a real ``cloudgate serve`` in ``cloud-run`` mode listening on 0.0.0.0 off Cloud Run:

- an identity header that is present but malformed (wrong scheme, whitespace or a comma in the token, two tokens,
  two headers) hoping it is read as "no identity" (or that the second, unchecked token is the one used). Secure:
  401 ``id_token_invalid`` on every route that reads identity, including key-only ones;
- rotating ``X-Forwarded-For`` to get a fresh docs-login budget per guess, where no front end appends it (no
  ``K_SERVICE``, trust left on ``auto``). Secure: 429 once the budget of the real peer is spent;
- and the operator is told, loudly, that anyone reaching this port can pose as any principal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from cloudgate import codes
from cloudgate.google import SIGNATURE_REMOVED
from tests.e2e.service_env import claims, serve
from tests.security.conftest import DOCS_PASSWORD, Attack, Secrets, Served, basic, unsigned_jwt

pytestmark = pytest.mark.e2e


def _token(**overrides: object) -> str:
    """A forwarded-looking token, made when the test runs (a token made at collection could expire in a long run)."""
    return unsigned_jwt(claims(**overrides), signature=SIGNATURE_REMOVED)


#: Header lists that carry an identity, but not as exactly one well-formed Bearer token: ``(good, other)`` tokens in.
MALFORMED: dict[str, Callable[[str, str], list[tuple[str, str]]]] = {
    "serverless-basic-scheme": lambda good, other: [("X-Serverless-Authorization", "Basic ZG9jczpzZWNyZXQ=")],
    "serverless-no-scheme": lambda good, other: [("X-Serverless-Authorization", good)],
    "serverless-bearer-without-token": lambda good, other: [("X-Serverless-Authorization", "Bearer")],
    "serverless-two-tokens": lambda good, other: [("X-Serverless-Authorization", f"Bearer {good} {other}")],
    "serverless-comma-joined": lambda good, other: [("X-Serverless-Authorization", f"Bearer {good},{other}")],
    "serverless-tab-separated": lambda good, other: [("X-Serverless-Authorization", f"Bearer\t{good}")],
    "serverless-twice": lambda good, other: [
        ("X-Serverless-Authorization", f"Bearer {good}"), ("X-Serverless-Authorization", f"Bearer {other}")],
    "authorization-two-tokens": lambda good, other: [("Authorization", f"Bearer {good} {other}")],
    "authorization-bare-jwt": lambda good, other: [("Authorization", good)],
    "authorization-twice": lambda good, other: [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {other}")],
}  # fmt: skip


@pytest.fixture(scope="module")
def exposed(secrets: Secrets) -> Iterator[Served]:
    """cloud-run mode off Cloud Run, on 0.0.0.0 (``cloudgate serve``'s default), trust in X-Forwarded-For on auto."""
    env = secrets.service_env(CLOUDGATE_DATA_DIR=str(secrets.root / "data-exposed"))
    env.pop("CLOUDGATE_TRUST_FORWARDED_FOR")
    env["K_SERVICE"] = ""
    with serve("tests.security.identity_app:create_app", env) as served:
        yield served


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_identity_header_is_refused_not_ignored(
    exposed: Served, secrets: Secrets, attack: Attack, name: str
) -> None:
    malformed = MALFORMED[name](_token(), _token(email="admin@proj.iam.gserviceaccount.com"))
    for path in ("/v1/me", "/v1/keyed"):
        headers = [("X-API-Key", secrets.keys["reader"]), *malformed]
        response = attack(f"{name} on {path}", httpx.get(exposed.url + path, headers=headers, timeout=10))
        assert response.json()["reason"] == codes.ID_TOKEN_INVALID
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_well_formed_identity_headers_still_pass(exposed: Served, secrets: Secrets) -> None:
    """Control: one Bearer token in either header, and the docs' Basic scheme in Authorization on a key route."""
    for header in ("X-Serverless-Authorization", "Authorization"):
        response = httpx.get(exposed.url + "/v1/me", headers={header: f"Bearer {_token()}"}, timeout=10)
        assert response.status_code == 200 and response.json()["email"] == claims()["email"]
    keyed = {"X-API-Key": secrets.keys["reader"], "Authorization": "Basic ZG9jczpzZWNyZXQ="}
    assert httpx.get(exposed.url + "/v1/keyed", headers=keyed, timeout=10).json() == {"key": "reader", "email": None}


def test_start_up_warns_that_cloud_run_mode_is_exposed(exposed: Served) -> None:
    exposed.drain.wait_for("SECURITY: listening on 0.0.0.0")
    assert "/v1/me" in exposed.output and "does not look like Cloud Run" in exposed.output


def test_a_direct_client_cannot_pick_its_throttle_bucket(exposed: Served, attack: Attack) -> None:
    """Five wrong passwords spend the peer's budget whatever X-Forwarded-For says; the right one then waits too."""
    with httpx.Client(base_url=exposed.url, timeout=30) as client:
        for n in range(5):
            forged = {"X-Forwarded-For": f"198.51.100.{n + 20}", "Authorization": basic("docs", "wrong")}
            assert client.get("/docs", headers=forged).status_code == 401
        forged = {"X-Forwarded-For": "198.51.100.99", "Authorization": basic("docs", DOCS_PASSWORD)}
        response = attack("fresh X-Forwarded-For after the budget", client.get("/docs", headers=forged), expect=429)
        assert int(response.headers["retry-after"]) > 0
