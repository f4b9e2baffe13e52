"""What each dataset route can answer, for the OpenAPI schema: statuses, their reasons, the bodies of success.

Only descriptions here: ``protect()`` gives every 4xx/5xx answer the service's one error body
(``{"error", "detail"}``; a 422 adds ``errors`` when the request itself failed validation) and documents the
answers of the auth layer and the middleware (401, 403, 413, 431, 503 for credentials). Keep these in step with
the ``DatasetError`` statuses in ``app/``: the contract test (``tests/contract``) fails on any answer not listed.
"""

from __future__ import annotations

from typing import Any

from app.export import MEDIA_TYPES

#: The dataset name rule ``app.catalog.check_name`` enforces (a 400 otherwise); also a file name.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
NAME_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"

_Answers = dict[int | str, dict[str, Any]]

_BAD_NAME: _Answers = {400: {"description": f"The name is not a dataset name ({NAME_RULE})."}}
_UNKNOWN: _Answers = {404: {"description": "No dataset has this name."}}
_TOO_BIG: _Answers = {
    422: {
        "description": "The request is invalid, or its answer would pass the size limit for non-streamed "
        "responses (ask for fewer rows or columns, or use `/export`)."
    }
}
_BUSY: _Answers = {
    429: {
        "description": "The instance already runs its share of these requests; `Retry-After` says when to retry.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    }
}
_OVER_BUDGET: _Answers = {
    503: {
        "description": "The query used up its time budget, or the instance is short of memory, or credentials "
        "cannot be checked right now; `Retry-After` says when to retry.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    }
}
_BAD_QUERY: _Answers = {
    400: {
        "description": f"The name is not a dataset name ({NAME_RULE}), or a column, filter, order key, value "
        "or cursor is invalid."
    }
}

LIST: _Answers = {**_TOO_BIG}
DESCRIBE: _Answers = {**_BAD_NAME, **_UNKNOWN, **_TOO_BIG}
ROWS: _Answers = {
    **_BAD_QUERY,
    **_UNKNOWN,
    409: {"description": "The dataset was replaced since the cursor was issued: start again."},
    **_TOO_BIG,
    **_BUSY,
    **_OVER_BUDGET,
}
EXPORT: _Answers = {
    200: {
        "description": "The whole result, streamed in the format asked for.",
        "content": {
            media_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
            for media_type in MEDIA_TYPES.values()
        },
    },
    **_BAD_QUERY,
    **_UNKNOWN,
    422: {"description": "The export cannot be produced from this data."},
    **_BUSY,
    **_OVER_BUDGET,
}
UPLOAD: _Answers = {
    400: {
        "description": f"The name is not a dataset name ({NAME_RULE}), the format is unknown, or the body was cut off."
    },
    413: {"description": "The body, its rows, columns or decoded size pass the service's limits."},
    415: {"description": "The body is a multipart form: send the file itself."},
    422: {"description": "The body is empty, or not a valid file of its format."},
    **_BUSY,
    **_OVER_BUDGET,
}
DELETE: _Answers = {**_BAD_NAME, **_UNKNOWN}
