"""Cursor paging: keyset pages over a query's total order, and the opaque cursors that continue them.

The order is the caller's keys then the Parquet row id, so it is total and every row comes exactly once. A
cursor is base64url JSON of the last row's keys plus the dataset version and the query's fingerprint, and is
HMAC-signed when ``CLOUDGATE_CURSOR_SECRET`` is set. A cursor that does not decode is a 400; one from another
query is a 400; one from before the dataset was replaced is a 409 (start again).

Example::

    codec = CursorCodec(b"")
    rows, last = fetch_page(cursor, query, after=None, limit=100)
    token = codec.encode(query, last) if last else None
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import DatasetError
from app.query import ROW_ID, Query, first_uncastable, quote

if TYPE_CHECKING:  # imported where used: the service starts without DuckDB (see app.catalog)
    import duckdb

#: The largest row id DuckDB's ``file_row_number`` (a BIGINT) can hold.
_MAX_ROW = 2**63 - 1
_INVALID = "invalid cursor: use the 'next' value of a previous page as it is"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the order keys of its last row (as text, ``None`` for NULL) and its row id."""

    keys: tuple[str | None, ...]
    row: int


class CursorCodec:
    """Turns a position into an opaque cursor and back, checking it belongs to the query at hand."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, query: Query, position: Position) -> str:
        state = {"v": query.dataset.version, "q": query.fingerprint(), "k": list(position.keys), "r": position.row}
        payload = json.dumps(state, separators=(",", ":")).encode()
        token = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{token}.{self._sign(payload)}" if self._secret else token

    def decode(self, query: Query, cursor: str) -> Position:
        token, _, signature = cursor.partition(".")
        try:
            payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            state = json.loads(payload)
        except (binascii.Error, ValueError, RecursionError) as exc:  # deep nesting: RecursionError
            raise DatasetError(_INVALID, status=400) from exc
        # Bytes: compare_digest refuses str with non-ASCII characters, and the signature comes from the URL.
        if self._secret and not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise DatasetError("invalid cursor: its signature does not match", status=400)
        if not _well_formed(state, len(query.order)):
            raise DatasetError(_INVALID, status=400)
        if state["q"] != query.fingerprint():
            raise DatasetError("this cursor belongs to a different query (columns, filters or order)", status=400)
        if state["v"] != query.dataset.version:
            raise DatasetError(
                f"dataset {query.dataset.name!r} was replaced since this cursor was issued; start again", status=409
            )
        return Position(tuple(state["k"]), state["r"])


def _well_formed(state: Any, key_count: int) -> bool:
    return (
        isinstance(state, dict)
        and set(state) == {"v", "q", "k", "r"}
        and isinstance(state["v"], str)
        and isinstance(state["q"], str)
        and isinstance(state["r"], int)
        and not isinstance(state["r"], bool)
        and 0 <= state["r"] <= _MAX_ROW
        and isinstance(state["k"], list)
        and len(state["k"]) == key_count
        and all(k is None or isinstance(k, str) for k in state["k"])
    )


def _after(query: Query, position: Position) -> tuple[str, list[Any]]:
    """Rows strictly after ``position`` in the query's order (``NULLS LAST`` in both directions)."""
    terms: list[str] = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for key, value in zip(query.order, position.keys, strict=True):
        name, cast = quote(key.column.name), f"CAST(? AS {key.column.type})"
        if value is not None:  # after a NULL comes nothing but more NULLs of this key
            comparison = "<" if key.descending else ">"
            terms.append(" AND ".join([*equal, f"({name} {comparison} {cast} OR {name} IS NULL)"]))
            params.extend([*equal_params, value])
            equal.append(f"{name} = {cast}")
            equal_params.append(value)
        else:
            equal.append(f"{name} IS NULL")
    terms.append(" AND ".join([*equal, f"{ROW_ID} > ?"]))
    params.extend([*equal_params, position.row])
    return "(" + " OR ".join(f"({term})" for term in terms) + ")", params


def fetch_page(
    cursor: duckdb.DuckDBPyConnection, query: Query, *, after: Position | None, limit: int
) -> tuple[list[str], Position | None]:
    """Up to ``limit`` rows as JSON texts after ``after``, and the position to continue from (``None``: done)."""
    source, params = query.source()
    where, where_params = query.where()
    params.extend(where_params)
    if (
        after is not None
        and first_uncastable(
            cursor, [(key, order.column.type) for key, order in zip(after.keys, query.order, strict=True)]
        )
        is not None
    ):
        # An unsigned cursor can be edited: a position that does not fit its column is the caller's fault.
        raise DatasetError(_INVALID, status=400)
    if after is not None:
        keyset, keyset_params = _after(query, after)
        where = f"{where} AND {keyset}"
        params.extend(keyset_params)
    keys = "".join(f", CAST({quote(k.column.name)} AS VARCHAR)" for k in query.order)
    # The page is chosen first and only its rows become JSON: with the JSON in the same SELECT as the ORDER BY,
    # DuckDB builds it for every row of the dataset before keeping the first ``limit`` (several times slower).
    sql = (
        f"SELECT {query.json_object()}::VARCHAR{keys}, {ROW_ID} FROM ("  # noqa: S608 - see module doc
        f"SELECT * FROM {source} WHERE {where} ORDER BY {query.order_by()} LIMIT ?"
        f") ORDER BY {query.order_by()}"
    )
    rows = cursor.sql(sql, params=[*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    last = Position(tuple(rows[-1][1:-1]), int(rows[-1][-1])) if more and rows else None
    return [row[0] for row in rows], last
