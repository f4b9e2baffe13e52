"""Cursor paging: where the next page is, and which part of a page holds the items.

The dataset API answers a page as a JSON object with the items under a list key (``rows``; also ``items``,
``data`` or ``results`` for other APIs) and the continuation both as ``next`` in the body and as a
``Link: <...>; rel="next"`` header. The header wins when present (it is a full URL); a ``next`` that looks
like a URL is followed as it is; anything else is an opaque cursor, sent back as the ``cursor`` query parameter.
"""

from __future__ import annotations

from typing import Any

import httpx

from cloudgate.errors import RequestError

ITEM_KEYS = ("rows", "items", "data", "results")


def next_url(response: httpx.Response, body: Any, *, cursor_param: str = "cursor") -> str | None:
    """The URL of the page after ``response`` (its query included), or ``None`` on the last page."""
    link = response.links.get("next", {}).get("url")
    if link:
        return str(response.url.join(link))
    cursor = body.get("next") if isinstance(body, dict) else None
    if not cursor:
        return None
    cursor = str(cursor)
    if cursor.startswith(("http://", "https://", "/")):
        return str(response.url.join(cursor))
    return str(response.request.url.copy_set_param(cursor_param, cursor))


def page_items(body: Any, items_key: str | None = None) -> list[Any]:
    """The items of one page: ``body[items_key]``, the first known list key, or the body if it is a list."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        keys = (items_key,) if items_key else ITEM_KEYS
        for key in keys:
            value = body.get(key)
            if isinstance(value, list):
                return value
    raise RequestError(
        f"a page has no list of items under {items_key or ' / '.join(ITEM_KEYS)!r}",
        hint="pass items_key= (or --items-key) naming the list in each page",
    )
