"""The service's body limit follows the protocol: Cloud Run's 32 MiB cap over HTTP/1, a larger default over h2c."""

from __future__ import annotations

import pytest

from cloudgate.google import CLOUD_RUN_MAX_BYTES
from cloudgate.service.settings import HTTP2_MAX_BODY_BYTES, ServiceSettings


def test_http1_keeps_cloud_runs_cap() -> None:
    assert ServiceSettings().max_body_bytes == CLOUD_RUN_MAX_BYTES - 1


def test_http2_setting_raises_the_default_past_32_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_HTTP2", "true")
    settings = ServiceSettings()
    assert settings.http2 and settings.max_body_bytes == HTTP2_MAX_BODY_BYTES > CLOUD_RUN_MAX_BYTES


def test_an_explicit_body_limit_wins_over_http2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_HTTP2", "1")
    monkeypatch.setenv("CLOUDGATE_MAX_BODY_BYTES", "1000")
    assert ServiceSettings().max_body_bytes == 1000
