"""Reading a JWT's header and claims without verifying it, strictly and cheaply.

The identity checker needs the header (``alg``, ``kid``) before it can pick a key, and in ``cloud-run`` mode the
claims are all it gets: Cloud Run replaces the signature with ``SIGNATURE_REMOVED_BY_GOOGLE`` (see
``shared/CLOUD_RUN.md``). Nothing here proves who signed the token; callers decide what to trust.

Example::

    jwt = parse_jwt(token)            # raises InvalidCredentialsError when malformed
    jwt.header["kid"], jwt.claims["aud"], jwt.signature
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cloudgate.errors import InvalidCredentialsError

#: Google ID tokens are about 1 KiB; anything far larger is not one (and is not worth hashing or parsing).
MAX_TOKEN_CHARS = 16 * 1024

# Three base64url segments; the signature may be empty (``alg: none``) and is checked by the caller.
_JWT_SHAPE = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True, slots=True)
class UnverifiedJwt:
    """A JWT split into its parts. ``signature`` is the raw third segment (still base64url)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signature: str


def _malformed(what: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(f"malformed ID token: {what}", scheme="Bearer")


def _refuse_constant(name: str) -> object:
    # Python's json accepts NaN and Infinity, which are not JSON and would break every time comparison.
    raise ValueError(f"{name} is not JSON")


def _decode_segment(segment: str, name: str) -> dict[str, Any]:
    raw = segment.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(segment) % 4)
    try:
        data = binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        raise _malformed(f"the {name} is not valid base64url") from None
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _malformed(f"the {name} is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed(f"the {name} is not a JSON object")
    return value


def parse_jwt(token: str) -> UnverifiedJwt:
    """Split ``token`` into header, claims and signature segment; raise ``InvalidCredentialsError`` if malformed.

    The message says what is wrong and never contains the token.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise _malformed(f"longer than {MAX_TOKEN_CHARS} characters")
    match = _JWT_SHAPE.fullmatch(token)
    if match is None:
        raise _malformed("expected three base64url segments separated by dots")
    header_segment, claims_segment, signature = match.groups()
    return UnverifiedJwt(
        header=_decode_segment(header_segment, "header"),
        claims=_decode_segment(claims_segment, "payload"),
        signature=signature,
    )
