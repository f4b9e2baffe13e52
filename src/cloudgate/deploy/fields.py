"""The ``gcloud run deploy`` settings cloudgate passes through, as one table: each row is the CLI option, the
gcloud flag, how to read the value back from the described service, and how to compare the two.

``cloudgate deploy``'s options, ``DeployOptions.settings``, their validation, the ``gcloud run deploy`` argv and
the comparison that decides whether a deploy is needed all derive from ``FIELDS``: adding a setting is one row
plus its test. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cloudgate.deploy import service_spec as spec


def _same(value: str) -> str:
    return value


def _millicpu(value: str) -> str:
    """``1``, ``1.0`` and ``1000m`` are the same CPU (Cloud Run prints ``1000m`` for ``--cpu=1``)."""
    if value.endswith("m"):
        return value
    try:
        return f"{round(float(value) * 1000)}m"
    except ValueError:
        return value


@dataclass(frozen=True)
class Field:
    """One setting: ``--NAME`` for cloudgate and for gcloud alike."""

    name: str
    help: str
    #: What a valid value looks like, and an example for the error message.
    shape: re.Pattern[str]
    example: str
    #: The value as the described service holds it (``None``: not set).
    read: Callable[[spec.Json], str | None]
    #: Makes the asked and the read value comparable (``cpu``: ``1`` is ``1000m``).
    normalise: Callable[[str], str] = _same

    @property
    def option(self) -> str:
        return f"--{self.name}"

    def argv(self, value: str) -> str:
        return f"--{self.name}={value}"

    def problem(self, value: str) -> str | None:
        """Why ``value`` is refused, or ``None``."""
        if self.shape.fullmatch(value):
            return None
        return f"{self.option} {value!r}: expected e.g. {self.example}"

    def difference(self, asked: str, service: spec.Json) -> str | None:
        """``"memory 512Mi -> 1Gi"`` when the service holds something else, else ``None``."""
        have = self.read(service)
        if have is not None and self.normalise(have) == self.normalise(asked):
            return None
        return f"{self.name.replace('-', ' ')} {have} -> {asked}"


def _limit(name: str) -> Callable[[spec.Json], str | None]:
    return lambda service: spec.limits(service).get(name)


def _revision(key: str) -> Callable[[spec.Json], str | None]:
    def read(service: spec.Json) -> str | None:
        value = spec.revision_spec(service).get(key)
        return None if value is None else str(value)

    return read


def _annotation(key: str, default: str | None = None) -> Callable[[spec.Json], str | None]:
    return lambda service: spec.template_annotations(service).get(key, default)


_COUNT = re.compile(r"\d+")

FIELDS: tuple[Field, ...] = (
    Field("memory", "Memory per instance, e.g. 512Mi, 2Gi.", re.compile(r"\d+(Mi|Gi)"), "512Mi or 2Gi", _limit("memory")),
    Field("cpu", "CPUs per instance, e.g. 1, 2.", re.compile(r"\d+|\d*\.\d+|\d+m"), "1, 2 or 500m", _limit("cpu"),
          _millicpu),
    Field("concurrency", "Requests one instance takes at once.", _COUNT, "80", _revision("containerConcurrency")),
    Field("min-instances", "Instances kept warm.", _COUNT, "1", _annotation(spec.MIN_SCALE, "0")),
    Field("max-instances", "Most instances.", _COUNT, "10", _annotation(spec.MAX_SCALE)),
    Field("timeout", "Request timeout, seconds.", _COUNT, "300", _revision("timeoutSeconds")),
)  # fmt: skip

BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
