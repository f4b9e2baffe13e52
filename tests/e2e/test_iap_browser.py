"""A real headless Chromium opens the example service's docs through the emulator's Identity-Aware Proxy (issue 23).

The service is deployed with the real ``gcloud beta run deploy --iap`` as a local-command revision of
``cloudgate serve app.main:create_app``, its docs opened by IAP sign-in (``CLOUDGATE_DOCS_AUTH=iap``) and its
assertions verified against the emulator's IAP keys (``CLOUDGATE_IAP_JWKS_URL``, ``CLOUDGATE_IAP_AUDIENCE``).
alice holds ``roles/iap.httpsResourceAccessor`` (``gcloud beta iap web add-iam-policy-binding``); mallory does not.
A screenshot of the docs after "Try it out" is kept in ``test-artifacts/``. Assertions sent straight to the
container (bypassing the front end, as anyone who reaches the port could) are checked by the service itself.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.gcloud_stack import LOCAL_COMMAND_IMAGE, GcloudStack
from tests.e2e.test_proxy_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support import CLOUDGATE, clean_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Chromium is not installed (make system-deps)"),
]

SERVICE = "iap-docs"
REGION = "us-central1"
ALICE = "alice@example.com"
MALLORY = "mallory@example.com"


@dataclass
class IapService:
    url: str
    api_key: str


def _run(*argv: str) -> str:
    done = subprocess.run(argv, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def iap_service(gcloud_stack: GcloudStack, tmp_path_factory: pytest.TempPathFactory) -> IapService:
    """The example service with IAP on, its docs for alice and mallory, an API key for "Try it out"."""
    folder = tmp_path_factory.mktemp("iap-browser")
    state = httpx.get(f"{gcloud_stack.emulator_url}/admin/state").raise_for_status().json()
    for email in (ALICE, MALLORY):
        _run(CLOUDGATE, "emulator", "users", "create", email, "--out", str(folder / f"{email}.json"),
             "--emulator-url", gcloud_stack.emulator_url, "--state-dir", str(gcloud_stack.state_dir))  # fmt: skip
    keystore = f"sqlite:///{folder / 'keys.sqlite3'}"
    api_key = _run(CLOUDGATE, "keys", "create", "browser", "--scope", "datasets:read", "--keystore", keystore)
    env = {
        "CLOUDGATE_DOCS_AUTH": "iap",
        "CLOUDGATE_DOCS_IAP_USERS": f"{ALICE},{MALLORY}",
        "CLOUDGATE_IAP_AUDIENCE": f"/projects/{state['project_number']}/locations/{REGION}/services/{SERVICE}",
        "CLOUDGATE_IAP_JWKS_URL": state["urls"]["iap_jwks"],
        "CLOUDGATE_KEYSTORE": keystore,
    }
    gcloud_stack.gcloud(
        "beta", "run", "deploy", SERVICE, "--iap", "--no-allow-unauthenticated", "--min-instances=1",
        f"--image={LOCAL_COMMAND_IMAGE}",
        f"--command={CLOUDGATE}", "--args=serve,app.main:create_app,--host,127.0.0.1",
        "--set-env-vars=^;^" + ";".join(f"{k}={v}" for k, v in env.items()),
    )  # fmt: skip
    gcloud_stack.gcloud(
        "beta", "iap", "web", "add-iam-policy-binding", "--resource-type=cloud-run", f"--service={SERVICE}",
        f"--region={REGION}", f"--member=user:{ALICE}", "--role=roles/iap.httpsResourceAccessor",
    )  # fmt: skip
    return IapService(url=gcloud_stack.url_of(SERVICE), api_key=api_key)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _sign_in(page: Any, url: str, email: str) -> None:
    """Open ``url``: the emulated Google account chooser comes first; choose ``email``."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name=email).click()


def test_an_accessor_signs_in_and_tries_the_api_from_the_docs(browser: Any, iap_service: IapService) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    _sign_in(page, f"{iap_service.url}/docs", ALICE)
    expect(page.locator(".swagger-ui .information-container")).to_be_visible(timeout=30_000)
    assert page.url == f"{iap_service.url}/docs"

    page.locator("button.authorize").first.click()
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(iap_service.api_key)
    page.locator(".modal-ux .auth-btn-wrapper button.authorize").first.click()
    page.locator(".modal-ux button.btn-done").first.click()
    operation = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/v1/whoami"))
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "iap-docs-try-it-out.png"), full_page=True)
    assert Path(ARTIFACTS / "iap-docs-try-it-out.png").stat().st_size > 10_000


def test_a_user_without_the_accessor_role_gets_iaps_403(browser: Any, iap_service: IapService) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    _sign_in(page, f"{iap_service.url}/docs", MALLORY)
    expect(page.get_by_role("heading", name="You don't have access")).to_be_visible(timeout=20_000)


def test_signing_out_brings_back_the_account_chooser(browser: Any, iap_service: IapService) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    _sign_in(page, f"{iap_service.url}/docs", ALICE)
    expect(page.locator(".swagger-ui .information-container")).to_be_visible(timeout=30_000)
    page.goto(f"{iap_service.url}/_gcp_iap/clear_login_cookie")
    page.goto(f"{iap_service.url}/docs")
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible(timeout=20_000)


def _straight_to_the_container(gcloud_stack: GcloudStack, iap_service: IapService, assertion: str) -> int:
    """``GET /docs`` sent to the service's instance itself (bypassing the front end and IAP) with ``assertion``."""
    deadline = time.monotonic() + 60  # --min-instances=1: one instance is kept running
    while True:
        instances = httpx.get(f"{gcloud_stack.emulator_url}/admin/instances").raise_for_status().json()
        ready = [i["url"] for name, pool in instances.items() if SERVICE in name for i in pool if i["state"] == "ready"]
        if ready or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ready, instances
    return httpx.get(f"{ready[0]}/docs", headers={"X-Goog-IAP-JWT-Assertion": assertion}).status_code


def _assertion(gcloud_stack: GcloudStack, key: Any, kid: str, **changes: Any) -> str:
    state = httpx.get(f"{gcloud_stack.emulator_url}/admin/state").raise_for_status().json()
    now = int(time.time())
    claims = {
        "iss": "https://cloud.google.com/iap", "sub": "accounts.google.com:1", "email": ALICE, "iat": now,
        "exp": now + 600, "aud": f"/projects/{state['project_number']}/locations/{REGION}/services/{SERVICE}",
    }  # fmt: skip
    return jwt.encode({**claims, **changes}, key, algorithm="ES256", headers={"kid": kid})


def _iap_key(gcloud_stack: GcloudStack) -> tuple[Any, str]:
    """The emulator's own IAP signing key (as if IAP's key leaked) and its kid."""
    key = serialization.load_pem_private_key(
        (gcloud_stack.state_dir / "iap-signing" / "iap-es256.pem").read_bytes(), None
    )
    kid = httpx.get(f"{gcloud_stack.emulator_url}/iap/verify/public_key-jwk").json()["keys"][0]["kid"]
    return key, kid


def test_a_valid_assertion_straight_to_the_container_opens_the_docs(
    gcloud_stack: GcloudStack, iap_service: IapService
) -> None:
    """The control for the refusals below: the container checks the assertion, not where the request came from."""
    key, kid = _iap_key(gcloud_stack)
    assert _straight_to_the_container(gcloud_stack, iap_service, _assertion(gcloud_stack, key, kid)) == 200


def test_an_assertion_signed_by_a_key_not_in_iaps_jwks_is_refused(
    gcloud_stack: GcloudStack, iap_service: IapService
) -> None:
    forged = _assertion(gcloud_stack, ec.generate_private_key(ec.SECP256R1()), "not-iaps-key")
    assert _straight_to_the_container(gcloud_stack, iap_service, forged) == 401


def test_a_forged_assertion_naming_iaps_key_is_refused(gcloud_stack: GcloudStack, iap_service: IapService) -> None:
    _, kid = _iap_key(gcloud_stack)
    forged = _assertion(gcloud_stack, ec.generate_private_key(ec.SECP256R1()), kid)
    assert _straight_to_the_container(gcloud_stack, iap_service, forged) == 401


def test_an_assertion_replayed_from_another_service_is_refused(
    gcloud_stack: GcloudStack, iap_service: IapService
) -> None:
    key, kid = _iap_key(gcloud_stack)
    replayed = _assertion(gcloud_stack, key, kid, aud="/projects/123456789012/locations/us-central1/services/other")
    assert _straight_to_the_container(gcloud_stack, iap_service, replayed) == 401
