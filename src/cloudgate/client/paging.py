"""Cursor paging: where the next page is, and which part of a page holds the items.

The dataset API answers a page as a JSON object with the items under a list key (``rows``; also ``items``,
``data`` or ``results`` for other APIs) and the continuation both as ``next`` in the body and as a
``Link: <...>; rel="next"`` header. The header wins when present (it is a full URL); a ``next`` that looks
like a URL is followed as it is; anything else is an opaque cursor, sent back as the ``cursor`` query parameter.

A next page must be on the page's own origin (scheme, host and port). Following a link elsewhere would send the
caller's requests, and with them its ID token and API key, wherever a service (or whoever controls a page's
body) points; such a link is refused with a ``RequestError`` instead.
"""

from __future__ import annotations

from typing import Any

import httpx

from cloudgate.client.auth import audience_for, same_origin
from cloudgate.errors import RequestError

ITEM_KEYS = ("rows", "items", "data", "results")


def next_url(response: httpx.Response, body: Any, *, cursor_param: str = "cursor") -> str | None:
    """The URL of the page after ``response`` (its query included), or ``None`` on the last page.

    Raises ``RequestError`` when the next page is on another origin than the page's request.
    """
    link = response.links.get("next", {}).get("url")
    if link:
        return _same_origin_only(response.request.url, response.request.url.join(link), "Link header")
    cursor = body.get("next") if isinstance(body, dict) else None
    if not cursor:
        return None
    cursor = str(cursor)
    if cursor.startswith(("http://", "https://", "/")):
        return _same_origin_only(response.request.url, response.request.url.join(cursor), "`next` in the body")
    return str(response.request.url.copy_set_param(cursor_param, cursor))


def _same_origin_only(page: httpx.URL, target: httpx.URL, where: str) -> str:
    # Only the origins go into the message: the path or query of a hostile link may carry anything.
    if not same_origin(page, target):
        raise RequestError(
            f"refusing to follow the next page to {audience_for(target)} (from the {where}): "
            f"it is not the origin of the page, {audience_for(page)}, and the request would carry credentials",
            hint="a service should link its pages on its own origin; fetch the other URL yourself if you trust it",
        )
    return str(target)


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
