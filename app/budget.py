"""Per-request DuckDB time budgets, enforced by interrupting the request's own connection.

A request's DuckDB work runs through ``Budget.run``: a watchdog thread interrupts the connection
(``DuckDBPyConnection.interrupt()``) once the request has used its seconds, and the request fails with a 503
(``BudgetExceededError``) instead of holding a core. DuckDB running out of memory under its limit (other requests
hold it) is a 503 too (``ShortOfMemoryError``): the instance is busy, not the request wrong. An export spends its budget across many calls (one per batch);
the time its client takes to read does not count.

An interrupt that arrives between two statements is lost (DuckDB clears the flag when a statement starts), so the
watchdog keeps interrupting an overdue connection until its call returns.

Example::

    watchdog = Watchdog()
    budget = Budget(watchdog, seconds=10.0)
    rows = budget.run(connection, lambda: connection.sql("SELECT ...").fetchall())
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from app.errors import DatasetError

_T = TypeVar("_T")
#: How often an overdue connection is interrupted again, until its call returns.
_REPEAT_S = 0.005


class RetryLaterError(DatasetError):
    """A refusal that passes with time (429, 503): the answer carries ``Retry-After``."""

    def __init__(self, message: str, *, status: int, retry_after: int) -> None:
        super().__init__(message, status=status, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class BudgetExceededError(RetryLaterError):
    """The request used up its DuckDB time: 503, with a hint to ask for less."""

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(
            f"the {what} took longer than its budget of {seconds:g} s of query time and was stopped; "
            "ask for less (fewer filters, values, columns or order keys, or a smaller dataset)",
            status=503,
            retry_after=1,
        )


class ShortOfMemoryError(RetryLaterError):
    """DuckDB could not get memory within its limit (nor room to spill): 503, try again shortly."""

    def __init__(self) -> None:
        super().__init__(
            "the instance is short of memory for this query right now (others are using it); try again shortly, "
            "or ask for less (fewer rows, columns or order keys)",
            status=503,
            retry_after=2,
        )


def _out_of_memory(exc: BaseException) -> bool:
    # DuckDB raises OutOfMemoryException; through Arrow's batch reader it arrives as an OSError with its text.
    # Looked up, not imported: an exception from DuckDB means DuckDB is loaded (it is imported on first use).
    duckdb = sys.modules.get("duckdb")
    return (duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException)) or "Out of Memory Error" in str(exc)


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Watchdog:
    """One thread that interrupts connections whose deadline has passed; shared by every request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, _Interruptible] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, connection: _Interruptible, deadline: float) -> int:
        """Interrupt ``connection`` from ``deadline`` (``clock()`` time) on, until ``release``; returns a ticket."""
        with self._wake:
            ticket = next(self._ids)
            self._watched[ticket] = connection
            heapq.heappush(self._heap, (deadline, ticket))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="duckdb-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()
        return ticket

    def release(self, ticket: int) -> bool:
        """Stop watching; True if the connection was interrupted for being late."""
        with self._wake:
            self._watched.pop(ticket, None)
            fired = ticket in self._fired
            self._fired.discard(ticket)
            return fired

    def close(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _loop(self) -> None:
        with self._wake:
            while not self._stopped:
                now = self.clock()
                while self._heap and self._heap[0][1] not in self._watched:
                    heapq.heappop(self._heap)  # released before its deadline
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, ticket = self._heap[0]
                if deadline > now:
                    self._wake.wait(deadline - now)
                    continue
                heapq.heapreplace(self._heap, (now + _REPEAT_S, ticket))
                self._fired.add(ticket)
                self._watched[ticket].interrupt()


class Budget:
    """``seconds`` of DuckDB time for one request, spent by each ``run``; ``what`` names the work in the error."""

    def __init__(self, watchdog: Watchdog, seconds: float, what: str = "query") -> None:
        self.seconds = seconds
        self.remaining = seconds
        self._watchdog = watchdog
        self._what = what

    def run(self, connection: _Interruptible, call: Callable[[], _T]) -> _T:
        """``call()`` (blocking DuckDB work on ``connection``), interrupted once the budget is spent."""
        if self.remaining <= 0:
            raise BudgetExceededError(self.seconds, self._what)
        clock = self._watchdog.clock
        started = clock()
        ticket = self._watchdog.watch(connection, started + self.remaining)
        try:
            return call()
        except Exception as exc:
            # The interrupt surfaces as DuckDB's InterruptException, or wrapped by Arrow when it hit a batch read.
            if self._watchdog.release(ticket):
                self.remaining = 0
                raise BudgetExceededError(self.seconds, self._what) from exc
            if _out_of_memory(exc):
                raise ShortOfMemoryError from exc
            raise
        finally:
            self._watchdog.release(ticket)
            self.remaining -= clock() - started
