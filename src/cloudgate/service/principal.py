"""Who is calling: the typed result of authentication that routes receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def grants(scopes: frozenset[str], scope: str) -> bool:
    """Whether a key holding ``scopes`` may do what ``scope`` names (``*`` grants every scope)."""
    return scope in scopes or "*" in scopes


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as established by the service's checks.

    ``email`` is the Google identity: from the ID token, or, on a route that requires an IAP sign-in, from the
    verified IAP assertion; ``email_source`` says which (``id_token`` or ``iap``). ``key_name``/``key_id``/``scopes``
    come from the API key. Either side may be absent, depending on what the route required.
    """

    email: str | None = None
    key_id: str | None = None
    key_name: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    email_source: Literal["id_token", "iap"] | None = None

    @property
    def name(self) -> str:
        """A printable name for logs: the email, else the key name, else ``anonymous``."""
        return self.email or (f"key:{self.key_name}" if self.key_name else "anonymous")

    def has_scope(self, scope: str) -> bool:
        """Whether the caller's API key grants ``scope`` (``*`` grants every scope)."""
        return grants(self.scopes, scope)
