"""Which client a request comes from, for throttling failed logins per client.

Cloud Run's front end appends the address it saw to ``X-Forwarded-For``, so where it is trusted the RIGHTMOST
entry is the one to believe: anything to its left was sent by the client and can be forged. Off Cloud Run no
front end is known to append it (``CLOUDGATE_TRUST_FORWARDED_FOR=auto``, the default, trusts it only when
``K_SERVICE`` is set), and the TCP peer address is used: a direct client cannot pick its own throttle bucket.

Example::

    client_ip(request.scope, trust_forwarded_for=settings.forwarded_for_trusted())  # "203.0.113.7"
"""

from __future__ import annotations

import ipaddress

from starlette.types import Scope

_FORWARDED_FOR = b"x-forwarded-for"
_UNKNOWN = "unknown"


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _rightmost_forwarded_for(scope: Scope) -> str | None:
    # Several X-Forwarded-For headers are one list in order (RFC 9110 5.3); the last header's last entry wins.
    values = [value for name, value in scope.get("headers", ()) if name.lower() == _FORWARDED_FOR]
    if not values:
        return None
    last = values[-1].decode("latin-1").rsplit(",", 1)[-1].strip()
    return _valid_ip(last)


def client_ip(scope: Scope, trust_forwarded_for: bool) -> str:
    """The client's address: the rightmost ``X-Forwarded-For`` entry if trusted and valid, else the peer.

    Returns ``"unknown"`` when neither is available (e.g. a test transport without a peer).
    """
    if trust_forwarded_for:
        forwarded = _rightmost_forwarded_for(scope)
        if forwarded is not None:
            return forwarded
    peer = scope.get("client")
    if peer:
        return str(peer[0])
    return _UNKNOWN
