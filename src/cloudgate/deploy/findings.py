"""What the audit reports: a ``Finding`` of a ``Severity``, about a service at a ``Target``.

The severity is the check's, never the finding's own choice (``checks.CHECKS`` fixes it per code), and it is the
one rule every consumer applies:

- ``SERIOUS``: ``cloudgate audit`` exits 1, and the deploy's read-back fails (unless the user accepted that code
  explicitly, e.g. ``--allow-default-service-account``). SARIF level ``error``.
- ``WARNING``: printed, exit 0; SARIF level ``warning``.
- ``INFO``: what a reviewer wants to see (who may invoke, ingress); SARIF level ``note``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    SERIOUS = "serious"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Serious first."""
        return list(Severity).index(self)

    @property
    def fails(self) -> bool:
        """The one place that says what fails ``cloudgate audit`` (exit 1) and the deploy's read-back."""
        return self is Severity.SERIOUS

    @property
    def sarif_level(self) -> str:
        return {Severity.SERIOUS: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[self]


@dataclass(frozen=True)
class Target:
    """Where the service lives, for the fix commands."""

    service: str
    project: str
    region: str

    def where(self) -> str:
        return f"{shlex.quote(self.service)} --project={shlex.quote(self.project)} --region={shlex.quote(self.region)}"


@dataclass(frozen=True)
class Finding:
    """One thing worth knowing; ``fix``, when set, is a gcloud command that resolves it as printed (advice goes
    in ``message``). Never holds a secret's value."""

    severity: Severity
    code: str
    message: str
    fix: str | None = None

    @property
    def serious(self) -> bool:
        return self.severity.fails

    def line(self) -> str:
        text = f"{self.severity.upper():8} {self.code}: {self.message}"
        return f"{text}\n         fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, Any]:
        return {"severity": str(self.severity), "code": self.code, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Issue:
    """What a check function yields: the table row it belongs to adds the code and the severity."""

    message: str
    fix: str | None = None
