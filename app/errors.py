"""The dataset API's refusals: one error class, answered by ``protect()`` like every ``AppError``."""

from __future__ import annotations

from cloudgate.errors import AppError


class DatasetError(AppError):
    """The dataset API refused an input; ``status`` is the HTTP status to answer with (400 unless said)."""
