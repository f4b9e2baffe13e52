"""The ``CHECKS`` table is the one list: codes are unique, and ``cloudgate audit --help`` shows every audit check."""

from __future__ import annotations

import subprocess

from cloudgate.deploy.checks import CHECKS
from tests.support import CLOUDGATE


def test_check_codes_are_unique() -> None:
    codes = [check.code for check in CHECKS]
    assert len(codes) == len(set(codes))


def test_audit_help_lists_every_audit_check_with_its_severity() -> None:
    env = {"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb", "PATH": ""}
    done = subprocess.run([CLOUDGATE, "audit", "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    for check in CHECKS:
        assert (f"{check.code} ({check.severity}):" in done.stdout) is (not check.readback_only), check.code
