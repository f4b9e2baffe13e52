"""``cloudgate token`` and ``cloudgate call`` as real processes against the emulator's front end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jwt
import pytest

from tests.e2e.stack import EmulatorStack
from tests.support import CLOUDGATE, clean_env

pytestmark = pytest.mark.e2e


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"CLOUDSDK_CORE_CHECK_GCE_METADATA": "false", "GCE_METADATA_IP": "127.0.0.1:9"}
    return subprocess.run(
        [CLOUDGATE, *args], capture_output=True, text=True, timeout=60, env=clean_env(**base, **env), check=False
    )


def test_token_prints_only_the_token(emulator_stack: EmulatorStack) -> None:
    done = _run("token", emulator_stack.url, "--credentials", str(emulator_stack.invoker_key))
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["aud"] == emulator_stack.url and claims["email"] == emulator_stack.invoker_email


def test_token_audience_flag_overrides_the_url(emulator_stack: EmulatorStack) -> None:
    done = _run(
        "token",
        emulator_stack.url,
        "--audience",
        "https://aud.example",
        "--credentials",
        str(emulator_stack.invoker_key),
    )
    assert jwt.decode(done.stdout.strip(), options={"verify_signature": False})["aud"] == "https://aud.example"


def test_token_reads_google_application_credentials(emulator_stack: EmulatorStack) -> None:
    done = _run("token", emulator_stack.url, GOOGLE_APPLICATION_CREDENTIALS=str(emulator_stack.invoker_key))
    assert done.returncode == 0 and done.stdout.count(".") == 2


def test_token_without_credentials_lists_the_sources_and_no_traceback(tmp_path: Path) -> None:
    done = _run("token", "https://svc.example", CLOUDSDK_CONFIG=str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    assert "no credentials found" in done.stderr and "Traceback" not in done.stderr


def test_call_sends_query_json_and_headers_and_pretty_prints(emulator_stack: EmulatorStack) -> None:
    done = _run(
        "call", "PUT", f"{emulator_stack.url}/echo", "q==1", "name=box", "size:=3", "X-Trace-Me:yes",
        "--credentials", str(emulator_stack.invoker_key), "--api-key", "ck_cli",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("{\n  ")
    body = json.loads(done.stdout)
    assert body["method"] == "PUT" and body["query"] == "q=1"
    assert body["headers"]["x-trace-me"] == ["yes"] and body["headers"]["x-api-key"] == ["ck_cli"]
    assert body["body_bytes"] == len(json.dumps({"name": "box", "size": 3}, separators=(",", ":")))


def test_call_defaults_to_post_with_a_body_and_reads_the_api_key_from_the_environment(
    emulator_stack: EmulatorStack,
) -> None:
    done = _run(
        "call", f"{emulator_stack.url}/echo", "a=b", "--credentials", str(emulator_stack.invoker_key),
        CLOUDGATE_API_KEY="ck_env",
    )  # fmt: skip
    body = json.loads(done.stdout)
    assert body["method"] == "POST" and body["headers"]["x-api-key"] == ["ck_env"]


def test_call_streams_output_to_a_file(emulator_stack: EmulatorStack, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    done = _run(
        "call", f"{emulator_stack.url}/stream", "bytes==5000000", "-o", str(target),
        "--credentials", str(emulator_stack.invoker_key),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.stat().st_size == 5_000_000 and done.stdout == ""


def test_call_as_a_non_invoker_explains_the_fix(emulator_stack: EmulatorStack) -> None:
    done = _run("call", f"{emulator_stack.url}/echo", "--credentials", str(emulator_stack.outsider_key))
    assert done.returncode == 1 and "roles/run.invoker" in done.stderr and "Traceback" not in done.stderr


def test_call_rejects_a_malformed_item(emulator_stack: EmulatorStack) -> None:
    done = _run("call", f"{emulator_stack.url}/echo", "nonsense", "--credentials", str(emulator_stack.invoker_key))
    assert done.returncode == 2 and "not an item" in done.stderr
