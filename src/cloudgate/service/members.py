"""``AllowedMembers``: a list of people and accounts a setting lets in, written as IAM writes members.

``CLOUDGATE_ALLOWED_PRINCIPALS`` (routes that require a Google identity or an IAP sign-in) and
``CLOUDGATE_DOCS_IAP_USERS`` (the docs, opened through Identity-Aware Proxy) take the same entries:

- ``alice@example.com``, ``user:alice@example.com``, ``serviceAccount:ci@p.iam.gserviceaccount.com``: that email
  (compared in any case, as Google compares them);
- ``domain:example.com``: every account of that Google Workspace / Cloud Identity domain, read from the
  credential's signed ``hd`` claim (IAP assertions carry it; an ID token's is not read, so it never matches one).

``group:`` is refused with a ``ConfigError``: neither an ID token nor an IAP assertion says which groups the caller is
in. Grant IAP's accessor role to the group instead (``cloudgate deploy --iap --iap-member group:...``): IAP checks
group membership before the request reaches the service, and the service then needs no list at all.

Example::

    allowed = AllowedMembers(["user:alice@example.com", "domain:example.org"], setting="CLOUDGATE_DOCS_IAP_USERS")
    allowed.allows("Alice@Example.com")                          # True
    allowed.allows("bob@example.org", hosted_domain="example.org")  # True
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudgate.errors import ConfigError

_EMAIL_PREFIXES = ("user:", "serviceAccount:")
_DOMAIN_PREFIX = "domain:"


class AllowedMembers:
    """Emails and domains parsed once from a setting's entries; ``allows`` is two set lookups."""

    def __init__(self, entries: Iterable[str], *, setting: str) -> None:
        emails: set[str] = set()
        domains: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            kind, colon, value = entry.partition(":")
            if not colon:
                kind, value = "user", entry
            if f"{kind}:" in _EMAIL_PREFIXES and "@" in value.strip("@"):
                emails.add(value.lower())
            elif f"{kind}:" == _DOMAIN_PREFIX and value and "@" not in value:
                domains.add(value.lower())
            elif kind == "group":
                raise ConfigError(
                    f"{setting}: {entry[:100]!r} names a group, but neither an ID token nor an IAP assertion says "
                    "which groups the caller is in; grant IAP's accessor role to the group instead "
                    "(cloudgate deploy --iap --iap-member group:...) and list no one here"
                )
            else:
                raise ConfigError(
                    f"{setting}: {entry[:100]!r} is not an email, user:EMAIL, serviceAccount:EMAIL or domain:DOMAIN"
                )
        self._emails = frozenset(emails)
        self._domains = frozenset(domains)

    def __bool__(self) -> bool:
        return bool(self._emails or self._domains)

    def allows(self, email: str | None, *, hosted_domain: str | None = None) -> bool:
        """Whether ``email`` (or the signed hosted domain ``hd``) is one of the members."""
        # Configuration, not a secret: a set lookup is right (and takes any characters).
        if email is not None and email.lower() in self._emails:
            return True
        return hosted_domain is not None and hosted_domain.lower() in self._domains
