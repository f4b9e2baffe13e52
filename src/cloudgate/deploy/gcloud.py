"""Running gcloud: argv lists, no shell, JSON out, gcloud's own error line in our errors.

Secrets never travel on argv: a command that needs one reads it from a file or from the stdout of another
command (``Command.stdin_from``). Output that may hold a secret (a secret version, a token) is returned to
the caller and never logged or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from cloudgate.deploy.commands import Command
from cloudgate.errors import DeployError

logger = logging.getLogger(__name__)

#: How gcloud reports a missing resource across APIs (Knative "Cannot find service", Google's NOT_FOUND, 404).
_NOT_FOUND = re.compile(r"NOT_FOUND|Cannot find|not found|\b404\b|does not exist")
#: Long enough for a Cloud Build or a first deploy; gcloud has its own shorter timeouts for plain API calls.
_TIMEOUT_S = 3600.0


class GcloudError(DeployError):
    """A gcloud command exited non-zero; ``not_found`` says whether it reported a missing resource."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


class Gcloud:
    """Runs commands with ``env`` laid over this process's environment (a throwaway config, the emulator's)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}

    def run(self, command: Command) -> str:
        """Run ``command`` (after its ``stdin_from``); its stdout as text."""
        return self.run_bytes(command).decode("utf-8", "replace")

    def run_bytes(self, command: Command) -> bytes:
        stdin = self.run_bytes(command.stdin_from).strip() + b"\n" if command.stdin_from else None
        argv = [self._resolve(command.argv[0]), *command.argv[1:]]
        logger.debug("running %s", command.argv[:4])
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, env=self.env, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise GcloudError(f"`{_short(command)}` did not finish within {_TIMEOUT_S:.0f}s") from exc
        except OSError as exc:
            raise GcloudError(f"could not run {command.argv[0]} ({type(exc).__name__}: {exc.strerror})") from exc
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace")
            raise GcloudError(_error_line(stderr), not_found=bool(_NOT_FOUND.search(stderr)))
        return done.stdout

    def json(self, command: Command) -> Any:
        """Run a ``--format=json`` command and parse its output."""
        out = self.run(command)
        try:
            return json.loads(out) if out.strip() else {}
        except ValueError as exc:
            raise GcloudError(f"`{_short(command)}` printed something that is not JSON") from exc

    def json_or_none(self, command: Command) -> Any:
        """Like ``json``, but ``None`` when gcloud says the resource does not exist."""
        try:
            return self.json(command)
        except GcloudError as exc:
            if exc.not_found:
                return None
            raise

    def config_value(self, prop: str) -> str | None:
        """``gcloud config get PROP``; ``None`` when unset."""
        try:
            value = self.run(Command(("gcloud", "config", "get", prop))).strip()
        except GcloudError:
            return None
        return value or None

    @staticmethod
    def _resolve(executable: str) -> str:
        path = shutil.which(executable)
        if path is None:
            hint = " (install the Google Cloud CLI)" if executable == "gcloud" else ""
            raise GcloudError(f"{executable} is not installed or not on the PATH{hint}")
        return path


def _short(command: Command) -> str:
    return " ".join(command.argv[:4])


def _error_line(stderr: str) -> str:
    """gcloud's ``ERROR: (gcloud.x) message`` (with what follows it), or its last line."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("ERROR:"):
            return " ".join([line.removeprefix("ERROR:").strip(), *(x.strip() for x in lines[index + 1 : index + 4])])
    return lines[-1] if lines else "no output"
