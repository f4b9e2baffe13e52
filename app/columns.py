"""Column names as DuckDB sees them: compared ASCII case-insensitively, some reserved for DuckDB's own columns.

A dataset's columns are named by its file. Every query adds DuckDB's row id (``file_row_number``) and reads by
quoted name, so a file column that clashes with a reserved name (in any case) or with another column (differing
only in case) would make every later read of the dataset fail. Uploads are checked here, before they are installed.

Example::

    check_column_names(["id", "ID"], max_columns=1000)   # DatasetError(422): the same name to DuckDB
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import DatasetError


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dataset: its name and DuckDB type (``BIGINT``, ``TIMESTAMP``, ``VARCHAR``...)."""

    name: str
    type: str


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: Column names DuckDB itself gives meaning to when reading a file (compared folded): a file column of one of these
#: names would clash with the row id every query adds, or shadow a virtual column.
RESERVED_COLUMNS = frozenset({"file_row_number", "filename", "file_index", "rowid"})
#: Longest column name an upload may have.
MAX_COLUMN_NAME = 255


def fold(name: str) -> str:
    """``name`` as DuckDB compares identifiers: ASCII letters lower-cased, everything else as it is."""
    return name.translate(_ASCII_LOWER)


def check_column_names(names: list[str], max_columns: int) -> None:
    """Refuse names that later reads could not serve or address: a 422 naming the first one.

    Names are compared the way DuckDB compares identifiers (ASCII case-insensitively), so ``ID`` clashes with
    ``id``, and ``File_Row_Number`` with the row id DuckDB adds to every read.
    """
    if not names:
        raise DatasetError("the file has no columns", status=422)
    if len(names) > max_columns:
        raise DatasetError(f"the file has {len(names)} columns; at most {max_columns} are allowed", status=413)
    seen: dict[str, str] = {}
    for name in names:
        problem = None
        if not name or name != name.strip():
            problem = "is empty or starts or ends with a space"
        elif len(name) > MAX_COLUMN_NAME:
            problem = f"is longer than {MAX_COLUMN_NAME} characters"
        elif any(ch in name for ch in ":,") or name.startswith("-") or not name.isprintable():
            problem = "contains ':', ',' or a control character, or starts with '-' (the query syntax uses them)"
        elif fold(name) in RESERVED_COLUMNS or fold(name).startswith("__cg_"):
            problem = f"is reserved by DuckDB or the service ({', '.join(sorted(RESERVED_COLUMNS))}, __cg_*)"
        elif fold(name) in seen:
            problem = f"is the same name as {seen[fold(name)]!r} (names are compared case-insensitively)"
        if problem:
            raise DatasetError(f"column name {name[:100]!r} is not allowed: it {problem}", status=422)
        seen[fold(name)] = name
