"""The README's "Using cloudgate in your own service": its module and its shell lines, run as printed in a fresh
folder (only the port is moved to a free one), with the password typed on stdin as a user would at the prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.readme_blocks import block, run_as_reader
from tests.support import free_port

pytestmark = pytest.mark.e2e


def test_the_own_service_example_runs_as_printed(tmp_path: Path) -> None:
    (tmp_path / "mymodule.py").write_text(block("own-app", "python"))
    run = block("own-run").replace("8080", str(free_port()))
    result = run_as_reader(tmp_path, run, stdin="correct horse battery staple\n", timeout=120)
    assert result.returncode == 0, result.stderr  # the snippet's own `kill %1` stopped the server
    assert '{"by":"key:etl"}' in result.stdout
    assert (tmp_path / ".cloudgate" / "keys.sqlite3").exists()  # the store the README names, where it says
