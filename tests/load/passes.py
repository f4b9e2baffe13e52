"""How much load a run makes: CI's short pass, or the full pass of ``make load`` (``CLOUDGATE_LOAD=full``).

Read once at import, before the suite's ``clean_environ`` fixture strips ``CLOUDGATE_*`` variables from each test.
Both passes run the same tests with the same assertions; the full one only runs them longer.
"""

from __future__ import annotations

import os

#: ``make load`` sets ``CLOUDGATE_LOAD=full``; anything else (CI, ``make test``) is the short pass.
FULL = os.environ.get("CLOUDGATE_LOAD", "").strip().lower() == "full"

#: Cloud Run's default concurrency per instance: the number of clients every load test runs...
CLIENTS = 80


def sized(short: int, full: int) -> int:
    """``full`` in the full pass, ``short`` in CI's."""
    return full if FULL else short


#: ...but the fault tests (``tests/load/fault_load.py``), whose range is 20-40: enough to queue on a failing store
#: or certs fetch.
FAULT_CLIENTS = sized(24, 40)
