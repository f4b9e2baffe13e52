"""A real headless Chromium opens the private service's docs through ``cloudgate proxy``, logs in with Basic,
authorizes with the API key and runs "Try it out" on ``/v1/whoami``; a screenshot is kept in ``test-artifacts/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import DevStack
from tests.support import CLOUDGATE, ROOT, clean_env, free_port, start_process, stop_process, wait_for_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def proxy_url(dev_stack: DevStack) -> Iterator[str]:
    port = free_port()
    argv = [CLOUDGATE, "proxy", dev_stack.url, "--port", str(port), "--credentials", str(dev_stack.invoker_key)]
    env = clean_env(GCE_METADATA_IP="127.0.0.1:9")
    proc = start_process(argv, env=env)
    wait_for_port(port, proc=proc)
    yield f"http://127.0.0.1:{port}"
    log = stop_process(proc)
    assert "eyJ" not in log, "a token reached the proxy's log"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Chromium is not installed (make system-deps)")
def test_docs_try_it_out_through_the_proxy(dev_stack: DevStack, proxy_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(
                http_credentials={"username": dev_stack.docs_user, "password": dev_stack.docs_password}
            )
            page = context.new_page()
            page.goto(f"{proxy_url}/docs")
            expect(page.locator(".swagger-ui .information-container")).to_be_visible(timeout=20_000)

            page.locator("button.authorize").first.click()
            page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(dev_stack.api_key)
            page.locator(".modal-ux .auth-btn-wrapper button.authorize").first.click()
            page.locator(".modal-ux button.btn-done").first.click()

            operation = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/v1/whoami"))
            operation.locator(".opblock-summary").first.click()
            operation.locator("button.try-out__btn").click()
            operation.locator("button.execute").click()
            status = operation.locator(".live-responses-table .response .response-col_status").first
            expect(status).to_have_text("200", timeout=20_000)
            body = operation.locator(".live-responses-table .response .response-col_description").first
            expect(body).to_contain_text("key_name")
            expect(body).to_contain_text("datasets:read")
            page.screenshot(path=str(ARTIFACTS / "proxy-docs-try-it-out.png"), full_page=True)
        finally:
            browser.close()
    assert Path(ARTIFACTS / "proxy-docs-try-it-out.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Chromium is not installed (make system-deps)")
def test_docs_opened_with_the_login_in_the_url_load_the_schema(dev_stack: DevStack, proxy_url: str) -> None:
    """http://user:pass@host/docs: browsers refuse to fetch URLs with credentials, so a schema URL resolved against
    the page would fail ("Failed to load API definition"); Swagger shows the API's operations instead."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            login = f"{dev_stack.docs_user}:{dev_stack.docs_password}@"
            page.goto(proxy_url.replace("http://", f"http://{login}") + "/docs")
            expect(page.locator(".opblock-summary-path", has_text="/v1/whoami").first).to_be_visible(timeout=20_000)
            expect(page.get_by_text("Failed to load API definition")).to_have_count(0)
        finally:
            browser.close()
