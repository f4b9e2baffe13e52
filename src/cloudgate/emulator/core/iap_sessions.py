"""IAP's sign-in sessions in the emulator: who signed in to which service, until when; only hashes of the cookies.

The emulated sign-in page (``serving/iap_gate.py``) makes a session when a person chooses an account; the cookie
holds a random 256-bit token and this store keeps only its SHA-256, bound to the one service it was made for, for
``lifetime`` seconds (IAP's default session is an hour). At most ``limit`` sessions are kept (the oldest goes
first), so a page that signs in in a loop cannot grow memory. ``clock`` is injectable (tests move time).

Example::

    sessions = IapSessions(clock=lambda: 1_800_000_000.0)
    token = sessions.create("user:alice@example.com", "alice@example.com", "1234", "api")
    assert sessions.get(token, "api").email == "alice@example.com"
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: How long a sign-in lasts (IAP's default session length: one hour).
SESSION_LIFETIME_S = 3600
SESSION_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class IapSession:
    """One signed-in person on one service."""

    member: str
    email: str
    subject_id: str
    service: str
    expires_at: float


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class IapSessions:
    """The sessions of one running emulator (in memory: a restart signs everyone out)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: float = SESSION_LIFETIME_S,
        limit: int = SESSION_LIMIT,
    ) -> None:
        self.clock = clock
        self._lifetime = lifetime
        self._limit = limit
        self._lock = threading.Lock()
        self._sessions: dict[bytes, IapSession] = {}

    def create(self, member: str, email: str, subject_id: str, service: str) -> str:
        """A new session's cookie value (random; only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        session = IapSession(member, email, subject_id, service, self.clock() + self._lifetime)
        with self._lock:
            while len(self._sessions) >= self._limit:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[_digest(token)] = session
        return token

    def get(self, token: str, service: str) -> IapSession | None:
        """The live session of ``token`` on ``service``; ``None`` when unknown, expired or made for another."""
        digest = _digest(token)
        with self._lock:
            session = self._sessions.get(digest)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[digest]
                return None
        return session if session is not None and session.service == service else None

    def drop(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(token), None)

    def __len__(self) -> int:
        return len(self._sessions)
