"""The retry policy: which requests are retried and how long to wait."""

from __future__ import annotations

import email.utils

import httpx

from cloudgate.client.retries import RetryPolicy, parse_retry_after


def test_only_idempotent_methods_are_retried_on_status() -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry_status("GET", 503, 1)
    assert policy.should_retry_status("PUT", 429, 2)
    assert not policy.should_retry_status("POST", 503, 1)
    assert not policy.should_retry_status("GET", 500, 1)
    assert not policy.should_retry_status("GET", 503, 3)


def test_a_connection_never_opened_is_retried_for_any_method() -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry_error("POST", httpx.ConnectError("refused"), 1)
    assert not policy.should_retry_error("POST", httpx.ReadError("reset"), 1)
    assert policy.should_retry_error("GET", httpx.ReadError("reset"), 1)


def test_backoff_is_jittered_and_capped() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=2.0)
    waits = [policy.wait(5) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits) and len(set(waits)) > 100


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_long_retry_after_is_capped() -> None:
    response = httpx.Response(503, headers={"Retry-After": "86400"})
    assert RetryPolicy(max_retry_after=5).wait(1, response) == 5
