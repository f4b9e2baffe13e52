"""One command of a deploy plan: an argv list, shown copy-pasteable, run without a shell.

A command never carries a secret: secret content travels in files (``--data-file=PATH``) or on stdin. Two
values are known only while a deploy runs, and appear as shell variables in ``--dry-run`` output so the
printed lines still work when pasted into bash:

- ``$SERVICE_URL``: the service's URL, set by a preceding ``SERVICE_URL=$(gcloud run services describe ...)``.
- a pipe: ``gcloud auth print-access-token | podman login ... --password-stdin`` (the token never hits argv).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

#: Placeholder for the service URL inside an argument; the runner substitutes it, dry-run prints it for bash.
SERVICE_URL = "$SERVICE_URL"


@dataclass(frozen=True)
class Command:
    """``argv`` to run; ``stdin_from``, when set, is run first and its stdout fed to this one's stdin."""

    argv: tuple[str, ...]
    stdin_from: Command | None = None
    #: Reads nothing from the project and changes nothing outside this machine (a local build).
    local: bool = False

    def shell(self) -> str:
        """The command as one bash line (quoted so that pasting it runs exactly this argv)."""
        line = " ".join(_quote(arg) for arg in self.argv)
        if self.stdin_from is not None:
            return f"{self.stdin_from.shell()} | {line}"
        return line

    def with_url(self, url: str) -> Command:
        """This command with ``$SERVICE_URL`` replaced by the real URL."""
        source = self.stdin_from.with_url(url) if self.stdin_from else None
        argv = tuple(arg.replace(SERVICE_URL, url) for arg in self.argv)
        return Command(argv, stdin_from=source, local=self.local)

    @property
    def needs_url(self) -> bool:
        return any(SERVICE_URL in arg for arg in self.argv)


def _quote(arg: str) -> str:
    if SERVICE_URL not in arg:
        return shlex.quote(arg)
    # Double quotes keep $SERVICE_URL expandable; escape what double quotes would otherwise interpret.
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    escaped = escaped.replace("$", "\\$").replace("\\" + SERVICE_URL, SERVICE_URL)
    return f'"{escaped}"'


def gcloud(*args: str) -> Command:
    """A ``gcloud`` command (always with ``--quiet``: the plan never relies on a prompt)."""
    return Command(("gcloud", *args, "--quiet"))
