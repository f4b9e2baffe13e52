"""The clients' keyword options are typed: mypy catches a misspelled option or a wrong type in user code."""

from __future__ import annotations

from pathlib import Path

from mypy import api

_USER_CODE = """
from cloudgate.client import AsyncClient, Client

Client("https://svc.a.run.app", api_key="k", credentials="key.json", raise_for_status=False)
AsyncClient("https://svc.a.run.app", audience="https://svc.a.run.app")
Client("https://svc.a.run.app", credential="key.json")
Client("https://svc.a.run.app", raise_for_status="no")
"""


def test_mypy_checks_the_names_and_types_of_client_options(tmp_path: Path) -> None:
    source = tmp_path / "user_code.py"
    source.write_text(_USER_CODE)
    stdout, _, status = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(source)])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 2, stdout
    assert 'Unexpected keyword argument "credential"' in errors[0]
    assert '"raise_for_status"' in errors[1]
