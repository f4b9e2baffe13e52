"""``app.budget``: a DuckDB statement past its request's budget is interrupted, whatever it is doing."""

from __future__ import annotations

import duckdb
import pytest
from app.budget import Budget, BudgetExceededError, Watchdog

#: A statement that would run for hours: only an interrupt ends it.
_ENDLESS = "SELECT count(*) FROM range(1000000000000000) t(i) WHERE i * i % 7 = 3"


@pytest.fixture
def watchdog() -> Watchdog:
    dog = Watchdog()
    yield dog
    dog.close()


def test_an_endless_statement_is_interrupted_at_its_budget(watchdog: Watchdog) -> None:
    connection = duckdb.connect()
    budget = Budget(watchdog, 0.05, "page")
    with pytest.raises(BudgetExceededError) as refused:
        budget.run(connection, lambda: connection.sql(_ENDLESS).fetchall())
    assert refused.value.status == 503
    assert refused.value.retry_after >= 1


def test_a_spent_budget_refuses_further_work_without_running_it(watchdog: Watchdog) -> None:
    connection = duckdb.connect()
    budget = Budget(watchdog, 0.05, "export")
    with pytest.raises(BudgetExceededError):
        budget.run(connection, lambda: connection.sql(_ENDLESS).fetchall())
    ran = []
    with pytest.raises(BudgetExceededError):
        budget.run(connection, lambda: ran.append(1))
    assert ran == []


def test_work_within_its_budget_is_untouched_and_the_connection_stays_usable(watchdog: Watchdog) -> None:
    connection = duckdb.connect()
    budget = Budget(watchdog, 3600, "page")
    assert budget.run(connection, lambda: connection.sql("SELECT 42").fetchall()) == [(42,)]
    assert budget.remaining < 3600
    assert connection.sql("SELECT 1").fetchall() == [(1,)]


def test_an_interrupt_not_caused_by_the_budget_is_not_reported_as_one(watchdog: Watchdog) -> None:
    connection = duckdb.connect()
    budget = Budget(watchdog, 3600, "page")

    def interrupted() -> None:
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    with pytest.raises(duckdb.InterruptException):
        budget.run(connection, interrupted)
