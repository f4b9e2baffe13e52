"""The docs users, kept current: ``CLOUDGATE_DOCS_USERS_FILE`` is re-read when it changes, without a restart.

A Secret Manager secret mounted as a file serves its latest version (``shared/CLOUD_RUN.md``), so rotating a docs
password is adding a version. The file is looked at on a docs login at most once per ``RECHECK_SECONDS`` and
re-parsed when its content changed. What is compared is the content's digest, not the modification time: a
secret volume may present a new version without a new mtime, and the file is a few hundred bytes.

A new version that does not load (a malformed line, a value that is not an argon2id hash, no users at all, the
file gone) is refused with an ERROR log line naming the problem (never a hash), and the last good users stay in
force until the file changes again: a broken rotation must not lock everyone out, nor let anyone in.

``version`` goes up on every change, so the guard drops the logins it remembered: an old password stops working
as soon as the new file is seen, not ``docs_cache_seconds`` later.

Bound: a rotated password works, and the old one is refused, at most ``RECHECK_SECONDS`` (1 s) after the file
shows the new version.

Example::

    users = DocsUsers(settings)           # raises ConfigError at start if the users do not load
    users.current()                       # [(b"alice", "$argon2id$...")], re-read when the file changed
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping

from cloudgate.errors import ConfigError
from cloudgate.service.passwords import load_docs_users
from cloudgate.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

#: How often, at most, the users file is looked at (only when someone logs in to the docs).
RECHECK_SECONDS = 1.0

Users = list[tuple[bytes, str]]


def _as_list(users: Mapping[str, str]) -> Users:
    return [(name.encode(), hash) for name, hash in users.items()]


class DocsUsers:
    """The configured docs users (``name -> argon2 hash``), re-read from the users file when it changes."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        users: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        """``users`` given directly replace the settings' (and then no file is watched)."""
        self._settings = settings
        self._path = settings.docs_users_file if users is None else None
        self._clock = clock
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._digest = self._file_digest()
        # A bad start is a ConfigError, as it always was: only a later version falls back to the last good one.
        self._users = _as_list(load_docs_users(settings) if users is None else users)
        self._checked_at = clock()
        #: Goes up each time a new version of the file is loaded.
        self.version = 0

    def __len__(self) -> int:
        return len(self._users)

    def current(self) -> Users:
        """The users in force now, after re-reading the file if it is due for a look and has changed."""
        if self._path is None or self._clock() - self._checked_at < self._recheck:
            return self._users
        with self._lock:
            if self._clock() - self._checked_at < self._recheck:
                return self._users  # another thread looked meanwhile
            self._checked_at = self._clock()
            self._reload_if_changed()
        return self._users

    def _file_digest(self) -> bytes | None:
        if self._path is None:
            return None
        try:
            return hashlib.sha256(self._path.read_bytes()).digest()
        except OSError:
            return None  # load_docs_users says what is wrong, where it matters

    def _reload_if_changed(self) -> None:
        digest = self._file_digest()
        if digest == self._digest:
            return
        self._digest = digest
        try:
            users = load_docs_users(self._settings)
            if not users:
                raise ConfigError(f"{self._path} holds no docs users")
        except ConfigError as exc:
            # The message names the file and line, never a hash (load_docs_users' contract).
            logger.error("docs users file changed but does not load (%s); keeping the previous users", exc)
            return
        self._users = _as_list(users)
        self.version += 1
        logger.info("docs users reloaded from %s: %d user(s)", self._path, len(users))
