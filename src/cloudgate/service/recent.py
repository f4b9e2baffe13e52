"""``RecentPrincipals``: the principals that passed a requirement recently, so a repeat costs one hash and one
dict lookup.

A request whose credentials were seen recently (the same API key, the same identity header) against the same
requirement gets the same ``Principal`` again, without parsing the key, reading the key cache, hashing the key
and the token separately or comparing hashes. An entry lives no longer than what it was built from:

- the key store cache's entry of the key (``CLOUDGATE_KEY_CACHE_SECONDS``: a revocation made elsewhere takes
  effect within that period, as without this table) and the key's own expiry;
- the ID token's ``exp`` plus the allowed clock skew (as ``TokenCache``).

A key added or revoked through the app's own key store empties the table at once. Only successes are kept: a
refusal is worked out again every time, with its reason. Entries are keyed by the SHA-256 of the credentials,
never the credentials themselves; the table is bounded, and its oldest entry goes first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cloudgate.service.credentials import Credentials
from cloudgate.service.principal import Principal

#: How many (requirement, credentials) pairs are remembered at most.
MAX_ENTRIES = 10_000

_sha256 = hashlib.sha256


def credentials_digest(creds: Credentials) -> bytes:
    """SHA-256 of the request's API key and identity headers, as sent (``Credentials.raw``): the same headers
    always get the same answer from a requirement, and a refusal is never remembered."""
    return _sha256(b"\n".join(creds.raw)).digest()


class RecentPrincipals:
    """(requirement, credentials digest) -> (deadline on ``clock``, principal)."""

    def __init__(self, clock: Callable[[], float], *, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[tuple[object, bytes], tuple[float, Principal]] = {}
        self._clock = clock
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, requirement: object, creds: Credentials) -> Principal | None:
        """The principal these credentials got from ``requirement`` recently, if its entry is still good."""
        entry = self._entries.get((requirement, _sha256(b"\n".join(creds.raw)).digest()))  # credentials_digest, inline
        if entry is None or self._clock() >= entry[0]:
            return None
        return entry[1]

    def put(self, requirement: object, creds: Credentials, principal: Principal, until: float) -> None:
        """Remember ``principal`` for these credentials and ``requirement`` until ``until`` (on ``clock``)."""
        if until <= self._clock():
            return
        entries = self._entries
        key = (requirement, credentials_digest(creds))
        entries.pop(key, None)
        if len(entries) >= self._max:
            del entries[next(iter(entries))]  # dicts keep insertion order: the oldest goes first
        entries[key] = (until, principal)

    def clear(self) -> None:
        self._entries.clear()
