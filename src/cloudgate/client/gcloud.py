"""ID tokens from the gcloud CLI (``gcloud auth print-identity-token``), the last resort of the chain.

With a service-account login gcloud mints a token for the audience; with a user login it refuses
``--audiences``, and the token it prints instead (audience: gcloud's own client) is what Cloud Run accepts
from users. A configured impersonation target is passed as ``--impersonate-service-account``. gcloud reads
its own configuration (``CLOUDSDK_CONFIG``), so tests run it with a throwaway folder.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from cloudgate.client.tokens import IdToken
from cloudgate.errors import TokenSourceError

logger = logging.getLogger(__name__)

_TIMEOUT_S = 60.0
_NO_ACCOUNT = "do not currently have an active account"
_USER_ACCOUNT = "Invalid account type for `--audiences`"


class GcloudSource:
    """Token source: ``gcloud auth print-identity-token`` with the active gcloud account."""

    name = "gcloud"

    def __init__(self, *, impersonate: str | None = None, executable: str = "gcloud") -> None:
        self.impersonate = impersonate
        self.executable = executable
        self.skip_reason = ""

    def fetch(self, audience: str) -> IdToken | None:
        """The active account's ID token; ``None`` when gcloud is missing or nobody is logged in."""
        path = shutil.which(self.executable)
        if path is None:
            self.skip_reason = "gcloud is not installed"
            return None
        argv = [path, "auth", "print-identity-token", "--verbosity=error", "--quiet"]
        if self.impersonate:
            argv += [f"--impersonate-service-account={self.impersonate}", "--include-email"]
        ok, out = self._run([*argv, f"--audiences={audience}"])
        if not ok and _USER_ACCOUNT in out:
            # A user login: gcloud only mints its own-audience token, which Cloud Run accepts from users.
            ok, out = self._run(argv)
        if ok:
            return IdToken.from_jwt(out, source=self.name)
        if _NO_ACCOUNT in out:
            self.skip_reason = "gcloud has no active account (`gcloud auth login`)"
            return None
        raise TokenSourceError(f"`gcloud auth print-identity-token` failed: {_last_error(out)}")

    def _run(self, argv: list[str]) -> tuple[bool, str]:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TokenSourceError(f"gcloud did not answer within {_TIMEOUT_S:.0f}s", retryable=True) from exc
        except OSError as exc:
            raise TokenSourceError(f"could not run gcloud ({type(exc).__name__})") from exc
        if done.returncode == 0:
            return True, done.stdout.strip()
        return False, done.stderr


def _last_error(stderr: str) -> str:
    """gcloud's ``ERROR: (...) message`` line (its stderr never carries the token)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    return lines[-1] if lines else "no output"
