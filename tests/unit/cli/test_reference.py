"""docs/cli.md is generated from --help; this fails when a command's help changes without `make docs`."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_cli_reference_matches_the_help_texts() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
