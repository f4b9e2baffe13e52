"""Cold start: importing the service pulls in none of the emulator, deploy, client or CLI code, nor heavy extras."""

from __future__ import annotations

import json
import subprocess
import sys

_FORBIDDEN = (
    "cloudgate.client",
    "cloudgate.emulator",
    "cloudgate.deploy",
    "cloudgate.cli",
    "typer",
    "rich",
    "google",
    "duckdb",
    "pyarrow",
    "httpx",
    "jwt",
    "cryptography",
)


def test_importing_the_service_stays_lean() -> None:
    code = (
        "import json, sys, cloudgate.service\n"
        f"names = {_FORBIDDEN!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in names or m.startswith(tuple(n + '.' for n in names)))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout) == []


def test_protecting_an_app_in_cloud_run_mode_without_docs_loads_no_crypto_or_docs_stack(tmp_path: object) -> None:
    code = (
        "import json, sys\n"
        "from fastapi import FastAPI\n"
        "from cloudgate.service import ServiceSettings, protect\n"
        f"protect(FastAPI(), ServiceSettings(keystore='sqlite:///{tmp_path}/k.db', identity='cloud-run'))\n"
        "heavy = ('jwt', 'cryptography', 'httpx', 'google', 'argon2', 'pwdlib', 'limits', 'fastapi_offline')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout) == []
