"""What a request presents, parsed once from its headers by the ASGI layer and read by the auth dependencies.

The ASGI layer leaves the ``Credentials`` and the app's ``Authenticator`` in the request's ASGI scope under the two
keys below; the route requirements (``auth``) read them from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from cloudgate.errors import InvalidCredentialsError
from cloudgate.service.principal import Principal

#: Scope key of the request's ``Credentials``.
CREDENTIALS_KEY: Final = "cloudgate.credentials"
#: Scope key of the app's ``Authenticator`` (one per protected app).
AUTHENTICATOR_KEY: Final = "cloudgate.authenticator"

# RFC 6750 section 2.1: "Bearer" 1*SP b64token. JWTs use only [A-Za-z0-9_-] and dots.
_SCHEME = re.compile(r"[^\s]+")
#: b64token's characters before its trailing ``=``s: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ).
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_BARE_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: The tags of ``Credentials.raw``: the first byte of each entry says which header it came from.
_KEY, _SERVERLESS, _AUTHORIZATION, _IAP = b"k"[0], b"s"[0], b"a"[0], b"i"[0]


@dataclass(slots=True)
class Credentials:
    """The credentials in one request's headers; ``principal`` is filled once a requirement has checked them.

    The ASGI layer only collects the headers' raw values (``raw``); they are decoded and parsed on first need
    (``api_keys``, ``bearer``): a request whose credentials passed recently (``RecentPrincipals``, keyed by ``raw``)
    never decodes its key or parses its token.
    """

    #: The API key, ``X-Serverless-Authorization``, ``Authorization`` and ``X-Goog-IAP-JWT-Assertion`` headers' raw
    #: values in the order sent, each tagged with its header (``k``, ``s``, ``a``, ``i``): what ``RecentPrincipals``
    #: hashes. Header values hold no newline, so joined with one they read back one way.
    raw: list[bytes] = field(default_factory=list)
    principal: Principal | None = None
    _identity: tuple[str | None, str | None] | None = None

    def _values(self, tag: int) -> list[str]:
        return [value[1:].decode("latin-1") for value in self.raw if value[0] == tag]

    @property
    def api_keys(self) -> list[str]:
        """Every value of the API key header (more than one is refused, not guessed at)."""
        return self._values(_KEY)

    @property
    def serverless(self) -> list[str]:
        """Every value of ``X-Serverless-Authorization``, as sent."""
        return self._values(_SERVERLESS)

    @property
    def authorization(self) -> list[str]:
        """Every value of ``Authorization``, as sent."""
        return self._values(_AUTHORIZATION)

    @property
    def iap_assertions(self) -> list[str]:
        """Every value of ``X-Goog-IAP-JWT-Assertion`` (Identity-Aware Proxy's signed header), as sent."""
        return self._values(_IAP)

    @property
    def bearer(self) -> str | None:
        """The bearer token: from ``X-Serverless-Authorization`` if present, else ``Authorization: Bearer``."""
        return self._read_identity()[0]

    @property
    def bearer_problem(self) -> str | None:
        """Why the identity header that was sent is unusable (wrong scheme, whitespace, two tokens); the auth
        check refuses with it (401). A malformed header is never read as "no identity"."""
        return self._read_identity()[1]

    def _read_identity(self) -> tuple[str | None, str | None]:
        if self._identity is None:
            self._identity = read_identity_headers(self.serverless, self.authorization)
        return self._identity


def _malformed(header: str, what: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(f"malformed {header} header: {what}", scheme="Bearer")


def bearer_token(header_value: str, *, header: str = "Authorization") -> str | None:
    """``"Bearer X"`` -> ``"X"`` (the scheme in any case); another scheme (``Basic ...``) -> ``None``.

    Raises ``InvalidCredentialsError`` when the value claims the Bearer scheme but is not exactly one token
    (no token, whitespace or commas inside it, two tokens), or is a bare JWT without any scheme.
    """
    value = header_value.strip(" \t")
    scheme = _SCHEME.match(value)
    if scheme is None:
        return None
    if scheme.group().lower() != "bearer":
        if _BARE_JWT.fullmatch(value):
            raise _malformed(header, "a token without the Bearer scheme")
        return None
    rest = value[scheme.end() :]
    token = rest.lstrip(" ")
    if len(token) == len(rest) or not _is_b64token(token):
        raise _malformed(header, "expected exactly one token after Bearer, without whitespace or commas")
    return token


def _is_b64token(token: str) -> bool:
    """Whether ``token`` is one b64token (``1*b64char *"="``).

    Checked with ``bytes.translate`` rather than a regex: this runs on every request with an identity, and ``re``
    walks a 1 KiB ID token at several nanoseconds a character (about 3 us), ``translate`` in well under one.
    """
    core = token.rstrip("=")
    if not core:
        return False
    try:
        raw = core.encode("ascii")
    except UnicodeEncodeError:
        return False
    return not raw.translate(None, _B64TOKEN_CHARS)


def read_identity_headers(serverless: list[str], authorization: list[str]) -> tuple[str | None, str | None]:
    """``(bearer token, None)`` from the request's identity headers, or ``(None, why it is unusable)``.

    As at Cloud Run (``shared/CLOUD_RUN.md``), ``X-Serverless-Authorization`` wins when present and must then be a
    Bearer token; ``Authorization`` may carry another scheme (the docs' Basic), which is simply not an identity.
    """
    try:
        if serverless:
            if len(serverless) > 1:
                raise _malformed("X-Serverless-Authorization", "sent more than once")
            token = bearer_token(serverless[0], header="X-Serverless-Authorization")
            if token is None:
                raise _malformed("X-Serverless-Authorization", "the scheme must be Bearer")
            return token, None
        if authorization:
            tokens = [bearer_token(value) for value in authorization]
            found = [token for token in tokens if token is not None]
            if len(found) > 1 or (found and len(authorization) > 1):
                raise _malformed("Authorization", "sent more than once")
            return (found[0] if found else None), None
    except InvalidCredentialsError as exc:
        return None, str(exc)
    return None, None
