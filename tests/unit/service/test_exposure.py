"""The start-up warnings for cloud-run identity mode: off Cloud Run, and on a public address with identity routes."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI

from cloudgate.service import ServiceSettings, protect
from cloudgate.service.deps import GoogleCaller, KeyCaller
from cloudgate.service.exposure import is_loopback, warn_off_cloud_run, warn_public_identity_routes
from cloudgate.service.settings import IdentityMode


def _app(*, google_route: bool, mode: IdentityMode = IdentityMode.CLOUD_RUN) -> FastAPI:
    app = FastAPI()
    if google_route:

        @app.get("/me")
        async def me(caller: GoogleCaller) -> str | None:
            return caller.email

    @app.get("/keyed")
    async def keyed(caller: KeyCaller) -> str | None:
        return caller.key_name

    settings = ServiceSettings(identity=mode, audiences=["https://svc.example"], keystore="file:///nonexistent/k.json")
    return protect(app, settings)


@pytest.fixture(autouse=True)
def _off_cloud_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K_SERVICE", raising=False)


def test_cloud_run_mode_off_cloud_run_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cloudgate.service.exposure"):
        assert warn_off_cloud_run(ServiceSettings())
    assert "does not look like Cloud Run" in caplog.text


@pytest.mark.parametrize("mode", [IdentityMode.VERIFY, IdentityMode.OFF])
def test_modes_that_trust_no_unsigned_claims_do_not_warn(mode: IdentityMode) -> None:
    settings = ServiceSettings(identity=mode, audiences=["https://svc.example"])
    assert not warn_off_cloud_run(settings)
    assert not warn_public_identity_routes(_app(google_route=True, mode=mode), "0.0.0.0")


def test_on_cloud_run_nothing_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SERVICE", "svc")
    assert not warn_off_cloud_run(ServiceSettings())
    assert not warn_public_identity_routes(_app(google_route=True), "0.0.0.0")


def test_a_public_bind_with_an_identity_route_warns_and_names_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cloudgate.service.exposure"):
        assert warn_public_identity_routes(_app(google_route=True), "0.0.0.0")
    assert "pose as any Google principal on /me" in caplog.text


def test_loopback_or_no_identity_route_does_not_warn_about_the_bind() -> None:
    assert not warn_public_identity_routes(_app(google_route=True), "127.0.0.1")
    assert not warn_public_identity_routes(_app(google_route=False), "0.0.0.0")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("myhost", False)])  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
