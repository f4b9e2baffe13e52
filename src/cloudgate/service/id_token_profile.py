"""Google's ID-token profile, claim by claim: what the identity checker demands in every mode that reads claims.

A signature (``verify`` mode) or Cloud Run's IAM check (``cloud-run`` mode) says who issued a token; neither says
its claims have the shape Google gives them, and PyJWT alone accepts several shapes Google never issues:
``exp`` as a string or a huge float, ``aud`` as a list, ``email_verified`` as ``"true"``, lifetimes of years.
A token that does not match the profile exactly is refused, whatever mode reads it:

- ``iss`` one of Google's two spellings; ``aud`` one non-empty string; ``sub`` a non-empty string.
- ``iat`` and ``exp`` integers (JSON numbers without a fraction, not booleans) in a sane range (2000-2100),
  ``iat`` not in the future, ``exp`` not past, ``exp - iat`` at most Google's one hour. Each of these allows
  ``skew`` seconds (``CLOUDGATE_CLOCK_SKEW_SECONDS``). ``nbf``, which Google does not send, obeys the same rules.
- ``email`` a string when present, and then ``email_verified`` the boolean ``true``; ``email_verified`` a
  boolean whenever present; ``azp`` a string when present.

Example::

    exp = check_profile(claims, now=time.time(), skew=30)   # raises InvalidCredentialsError
"""

from __future__ import annotations

from typing import Any

from cloudgate.errors import InvalidCredentialsError
from cloudgate.google import ID_TOKEN_ISSUERS

#: Google's ID tokens live one hour; a longer one was not issued by Google's token service.
MAX_LIFETIME_S = 3600
#: Unix times outside 2000-01-01 .. 2100-01-01 are not a Google token's times (and cannot overflow anything).
_EARLIEST = 946_684_800
_LATEST = 4_102_444_800


def _refuse(message: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(message, scheme="Bearer")


def _time(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    # bool is an int subclass; floats (1e300, 1.5) and strings ("9999999999") are not what Google sends.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(f"malformed ID token: {name} must be an integer number of seconds")
    if not _EARLIEST <= value <= _LATEST:
        raise _refuse(f"malformed ID token: {name} is not a plausible time")
    return value


def check_profile(claims: dict[str, Any], *, now: float, skew: float) -> int:
    """Raise ``InvalidCredentialsError`` unless ``claims`` match Google's ID-token profile; return ``exp``."""
    if claims.get("iss") not in ID_TOKEN_ISSUERS:
        raise _refuse("ID token was not issued by Google (wrong iss)")
    aud = claims.get("aud")
    if not isinstance(aud, str) or not aud:
        raise _refuse("malformed ID token: aud must be a single string")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise _refuse("malformed ID token: no sub claim")
    iat, exp = _time(claims, "iat"), _time(claims, "exp")
    if iat > now + skew:
        raise _refuse("ID token is not valid yet (issued in the future; check the clocks)")
    if now >= exp + skew:
        raise _refuse("ID token has expired")
    if not 0 < exp - iat <= MAX_LIFETIME_S + skew:
        raise _refuse(f"ID token lifetime is not what Google issues (at most {MAX_LIFETIME_S} s)")
    if "nbf" in claims and _time(claims, "nbf") > now + skew:
        raise _refuse("ID token is not valid yet (nbf)")
    for name in ("email", "azp"):
        if name in claims and not isinstance(claims[name], str):
            raise _refuse(f"malformed ID token: {name} must be a string")
    verified = claims.get("email_verified")
    if "email_verified" in claims and not isinstance(verified, bool):
        raise _refuse("malformed ID token: email_verified must be a boolean")
    if "email" in claims and verified is not True:
        raise _refuse("ID token email is not verified")
    return exp
