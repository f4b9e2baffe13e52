"""What a request presents, parsed once from its headers by the ASGI layer and read by the auth dependencies.

The ASGI layer leaves the ``Credentials`` and the app's ``Authenticator`` in the request's ASGI scope under the two
keys below; the route requirements (``auth``) read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from cloudgate.service.principal import Principal

#: Scope key of the request's ``Credentials``.
CREDENTIALS_KEY: Final = "cloudgate.credentials"
#: Scope key of the app's ``Authenticator`` (one per protected app).
AUTHENTICATOR_KEY: Final = "cloudgate.authenticator"


@dataclass(slots=True)
class Credentials:
    """The credentials in one request's headers; ``principal`` is filled once a dependency has checked them."""

    #: Every value of the API key header (more than one is refused, not guessed at).
    api_keys: list[str] = field(default_factory=list)
    #: The bearer token: from ``X-Serverless-Authorization`` if present, else ``Authorization: Bearer``.
    bearer: str | None = None
    principal: Principal | None = None


def bearer_token(header_value: str) -> str | None:
    """``"Bearer X"`` -> ``"X"`` (the scheme in any case); anything else -> ``None``."""
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token
