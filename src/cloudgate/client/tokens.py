"""An ID token as the client holds it: the raw JWT plus the times that decide when to refresh it.

The client never verifies the signature (Cloud Run does that); it only reads ``iat`` and ``exp`` to
know how long the token may be reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt

from cloudgate.errors import TokenSourceError
from cloudgate.google import ID_TOKEN_LIFETIME_S

#: Refresh at most this many seconds before expiry (Google tokens last an hour; refresh 5 minutes early).
DEFAULT_REFRESH_MARGIN_S = 300.0


@dataclass(frozen=True)
class IdToken:
    """A Google-signed ID token and its lifetime (``issued_at``/``expires_at`` are Unix seconds)."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float
    #: Which token source produced it (``key file``, ``metadata server``, ...); shown in errors and logs.
    source: str = ""
    #: The principal the token names, when it says (``email`` claim); never secret.
    email: str | None = None

    @classmethod
    def from_jwt(cls, value: str, *, source: str = "") -> IdToken:
        """Read ``iat``/``exp``/``email`` from an unverified JWT; a missing ``exp`` means the usual hour."""
        value = value.strip()
        try:
            claims = jwt.decode(value, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenSourceError(f"{source or 'the token source'} returned something that is not a JWT") from exc
        now = time.time()
        issued = float(claims.get("iat", now))
        expires = float(claims.get("exp", issued + ID_TOKEN_LIFETIME_S))
        email = claims.get("email")
        return cls(value, issued, expires, source, email if isinstance(email, str) else None)

    def is_fresh(self, *, margin: float = DEFAULT_REFRESH_MARGIN_S, now: float | None = None) -> bool:
        """Whether the token may still be used: ``margin`` seconds before expiry, at most half its lifetime.

        The half-lifetime cap keeps short-lived tokens (the emulator's knob) useful instead of always stale.
        """
        now = time.time() if now is None else now
        lifetime = max(self.expires_at - self.issued_at, 0.0)
        return now < self.expires_at - min(margin, lifetime / 2)
