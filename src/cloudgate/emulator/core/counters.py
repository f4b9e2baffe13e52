"""Counters the admin API reports: tokens issued (per account, per audience), requests forwarded and refused,
requests per instance and instance starts/stops of scaled services.

Tests read them to assert things like "ten calls, one token fetch" or "the non-invoker was refused before the
container saw it". Thread-safe; reset through the admin API.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Counters:
    """Named counters, each a ``Counter`` of labels (an account, an audience, a refusal reason)."""

    _NAMES = (
        "id_tokens_by_account",
        "id_tokens_by_audience",
        "access_tokens_by_principal",
        "token_errors",
        "frontend_forwarded",
        "frontend_refused",
        "instance_requests",
        "instance_starts",
        "instance_stops",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counter[str]] = {name: Counter() for name in self._NAMES}

    def add(self, name: str, label: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name][label] += amount

    def get(self, name: str, label: str) -> int:
        with self._lock:
            return self._counters[name][label]

    def reset(self) -> None:
        with self._lock:
            for counter in self._counters.values():
                counter.clear()

    def snapshot(self) -> dict[str, Any]:
        """Every counter with its labels, plus totals, as plain JSON."""
        with self._lock:
            data: dict[str, Any] = {name: dict(counter) for name, counter in self._counters.items()}
            data["totals"] = {name: sum(counter.values()) for name, counter in self._counters.items()}
        return data
