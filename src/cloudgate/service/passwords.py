"""Password hashes for the docs users: make them, check them, and load the configured ``name:hash`` entries.

Hashes are argon2id in the PHC string format (pwdlib's recommended hasher). Make one with
``cloudgate hash-password --user alice`` and put the line in ``CLOUDGATE_DOCS_USERS`` or in the users file::

    >>> h = hash_password("correct horse battery staple")
    >>> verify_password("correct horse battery staple", h)
    True

Error messages name the setting, the entry or line number and the user, never the hash or a password.
"""

from __future__ import annotations

import functools
import re
import secrets
from pathlib import Path

import argon2
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError

from cloudgate.env_vars import DOCS_USERS, DOCS_USERS_FILE
from cloudgate.errors import ConfigError
from cloudgate.service.settings import ServiceSettings

# An argon2 PHC string contains commas itself (``m=65536,t=3,p=4``): these pieces continue the previous entry.
_PARAMETER_CONTINUATION = re.compile(r"^[tp]=\d+")
_ARGON2ID_PREFIX = "$argon2id$"
_MIN_SALT_BYTES = 16
_MIN_DIGEST_BYTES = 32
_FIX_HINT = "make one with `cloudgate hash-password --user NAME`"


@functools.cache
def _password_hash() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id at pwdlib's recommended cost (about 0.1-0.2 s of CPU)."""
    return _password_hash().hash(password)


def verify_password(password: str, hash: str) -> bool:
    """Whether ``password`` matches ``hash``; ``False`` (not an error) for a hash that is not argon2."""
    try:
        return _password_hash().verify(password, hash)
    except UnknownHashError:
        return False


def is_argon2_hash(value: str) -> bool:
    """Whether ``value`` is a well-formed argon2id hash string that :func:`verify_password` can check."""
    if not value.startswith(_ARGON2ID_PREFIX):
        return False
    try:
        parameters = argon2.extract_parameters(value)
    except argon2.exceptions.InvalidHashError:
        return False
    # What `hash_password` makes is 16-byte salt, 32-byte digest; anything much shorter is damaged or weak.
    return parameters.salt_len >= _MIN_SALT_BYTES and parameters.hash_len >= _MIN_DIGEST_BYTES


def dummy_hash_like(hash: str) -> str:
    """An argon2 hash of a random, discarded password at the same cost as ``hash``.

    Verifying a guess against it costs what verifying against ``hash`` costs, so an unknown user name
    takes as long to refuse as a wrong password.
    """
    parameters = argon2.extract_parameters(hash)
    return argon2.PasswordHasher.from_parameters(parameters).hash(secrets.token_urlsafe(24))


def _parse_entry(text: str, where: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not name:
        raise ConfigError(f"{where} is not `name:hash`; {_FIX_HINT}")
    if any(char.isspace() or char == "," for char in name):
        raise ConfigError(f"{where}: the user name {name!r} contains a space or a comma")
    if not is_argon2_hash(value):
        raise ConfigError(f"{where} (user {name!r}): the value is not an argon2id hash; {_FIX_HINT}")
    return name, value


def _split_env_entries(raw: str) -> list[str]:
    entries: list[str] = []
    for piece in raw.replace("\n", ",").split(","):
        piece = piece.strip()
        if entries and _PARAMETER_CONTINUATION.match(piece):
            entries[-1] += "," + piece
        elif piece:
            entries.append(piece)
    return entries


def _read_file(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{DOCS_USERS_FILE}: cannot read {path}: {type(exc).__name__}") from exc
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            lines.append((number, line))
    return lines


def load_docs_users(settings: ServiceSettings) -> dict[str, str]:
    """The docs users (name -> argon2 hash) from ``CLOUDGATE_DOCS_USERS`` and ``CLOUDGATE_DOCS_USERS_FILE``.

    The setting holds comma- or newline-separated ``name:hash`` entries; the file holds one per line, with blank
    lines and ``#`` comments allowed. An empty result means the docs are disabled.

    Raises:
        ConfigError: an entry is malformed, its value is not an argon2id hash, a name appears twice,
            or the file cannot be read. The message names where, never the hash.
    """
    located: list[tuple[str, str]] = [
        (f"{DOCS_USERS} entry {index}", entry)
        for index, entry in enumerate(_split_env_entries(settings.docs_users.get_secret_value()), start=1)
    ]
    if settings.docs_users_file is not None:
        path = settings.docs_users_file
        located += [(f"{DOCS_USERS_FILE} {path} line {number}", line) for number, line in _read_file(path)]
    users: dict[str, str] = {}
    cost: tuple[int, int, int] | None = None
    for where, text in located:
        name, value = _parse_entry(text, where)
        if name in users:
            raise ConfigError(f"{where}: the user {name!r} is configured twice")
        # An unknown name is checked against one dummy hash; if users' costs differed, timing would tell which
        # names exist. So every hash must have the same cost (what `cloudgate hash-password` makes).
        parameters = argon2.extract_parameters(value)
        entry_cost = (parameters.time_cost, parameters.memory_cost, parameters.parallelism)
        if cost is not None and entry_cost != cost:
            raise ConfigError(
                f"{where}: this hash's argon2 cost differs from the other users' (an unknown user name would then "
                "be told apart by timing): hash every docs password with `cloudgate hash-password`"
            )
        cost = entry_cost
        users[name] = value
    return users
