"""The security suite's scorecard classes each recorded answer and prints the one closing line."""

from __future__ import annotations

from tests.security.scorecard import AttackOutcome, Tally


def test_an_answer_in_expect_is_rejected_as_expected() -> None:
    assert AttackOutcome("t", "forged token", 401, (401,)).outcome == "rejected"


def test_an_expected_5xx_is_rejected_as_expected() -> None:
    """A certs outage answered 503 is the secure answer, not a server error."""
    assert AttackOutcome("t", "certs down", 503, (503,)).outcome == "rejected"


def test_an_unexpected_5xx_is_a_server_error() -> None:
    assert AttackOutcome("t", "huge exp", 500, (401,)).outcome == "5xx"


def test_any_other_unexpected_answer_is_accepted() -> None:
    assert AttackOutcome("t", "alg none", 200, (401,)).outcome == "accepted"


def test_the_line_counts_every_kind() -> None:
    tally = Tally(rejected=150, accepted=2, server_errors=1)
    assert tally.line() == "153 tried, 150 rejected as expected, 2 accepted, 1 5xx"
