"""A refusal in Google's JSON API shape, raised by any room: ``ApiError(code, message[, status])``.

Google's APIs answer ``{"error": {"code", "message", "status"}}``; the control plane's handler
(``control/api_errors.py``) renders it. It sits at the bottom so that the serving side and the state helpers can
refuse in the same words without importing the API handlers.
"""

from __future__ import annotations

#: HTTP status -> Google's canonical status name (google.rpc.Code as mapped by Google's HTTP APIs).
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
}


class ApiError(Exception):
    """A refusal in Google's shape; ``status`` defaults to the canonical name of ``code``."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
