"""``EnvSettings``: a frozen pydantic model whose fields default from ``CLOUDGATE_*`` environment variables.

It reads the environment as pydantic-settings' ``BaseSettings`` does for the settings cloudgate has (prefix, names
matched in any case, values handed to pydantic's validation as the strings they are, keyword arguments over the
environment, defaults validated), without importing pydantic-settings: that import (its CLI source pulls in
``argparse`` and ``python-dotenv``) cost about 5% of a bare FastAPI app's start-up, and cold start is what a Cloud
Run instance pays on every scale-up (docs/performance.md). No value is JSON-decoded: a field that takes a list
splits its string in a ``mode="before"`` validator (``ServiceSettings.audiences``).

Example::

    class MySettings(EnvSettings):
        data_dir: Path = Path("data")  # CLOUDGATE_DATA_DIR

    MySettings().data_dir, MySettings(data_dir="/tmp").data_dir
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class EnvSettings(BaseModel):
    """Fields read from ``<env_prefix><FIELD NAME>`` (any case) unless passed as keyword arguments."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    #: The prefix of every variable this class reads.
    env_prefix: ClassVar[str] = "CLOUDGATE_"

    def __init__(self, /, **values: Any) -> None:
        super().__init__(**{**_from_environ(type(self)), **values})


def _from_environ(cls: type[EnvSettings]) -> dict[str, str]:
    """The environment's values for ``cls``'s fields, by field name (names compared in lower case)."""
    prefix = cls.env_prefix.lower()
    fields = cls.model_fields
    found: dict[str, str] = {}
    for name, value in os.environ.items():
        lowered = name.lower()
        if lowered.startswith(prefix) and (field := lowered[len(prefix) :]) in fields:
            found[field] = value
    return found
