"""The ``Authenticator``: one per protected app, it checks a request's credentials against the key store and the
identity settings and returns the ``Principal`` (or raises an ``AuthError``).

``protect()`` makes it and hands it to the ASGI layer, which leaves it in each request's scope beside the parsed
``Credentials``; the route requirements (``cloudgate.service.auth``, ``cloudgate.service.route``) call
``principal_for``: credentials that passed the same requirement recently resolve from ``RecentPrincipals`` with one
hash and one dict lookup, others go through the full check (``authenticate``). Three sources of identity: the API
key, the Google ID token (``identity``) and, on routes that ask for it, the person Identity-Aware Proxy signed in
(``iap``: the verified ``X-Goog-IAP-JWT-Assertion``; a remembered principal lives no longer than the assertion).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cloudgate import codes, env_vars
from cloudgate.errors import ForbiddenError, InvalidCredentialsError, MissingCredentialsError
from cloudgate.service.credentials import Credentials
from cloudgate.service.keys import KeyStore, authenticate_async, open_keystore
from cloudgate.service.keys.cache import CachedKeyStore
from cloudgate.service.members import AllowedMembers
from cloudgate.service.principal import Principal, grants
from cloudgate.service.recent import RecentPrincipals
from cloudgate.service.settings import IdentityMode, ServiceSettings

if TYPE_CHECKING:
    from cloudgate.service.auth import Requirement
    from cloudgate.service.iap import IapIdentity, IapVerifier
    from cloudgate.service.identity import GoogleIdentity, IdentityChecker
    from cloudgate.service.keys.store import KeyRecord

logger = logging.getLogger(__name__)


class Authenticator:
    """Checks a request's credentials against the key store and the identity settings."""

    def __init__(self, settings: ServiceSettings, keystore: KeyStore | None = None) -> None:
        self.settings = settings
        self._keystore = keystore
        self._identity: IdentityChecker | None = None
        self._iap: IapVerifier | None = None
        self._allowed = AllowedMembers(settings.allowed_principals, setting=env_vars.ALLOWED_PRINCIPALS)
        #: Made with the key store: only a cached key store says how long a record may be trusted.
        self._recent: RecentPrincipals | None = None

    @property
    def keystore(self) -> KeyStore:
        if self._keystore is None:
            store = open_keystore(self.settings.keystore, create=False)
            ttl = self.settings.key_cache_seconds
            self._keystore = CachedKeyStore(store, ttl) if ttl > 0 else store
        if self._recent is None and isinstance(self._keystore, CachedKeyStore):
            self._recent = RecentPrincipals(self._keystore.clock)
            self._keystore.on_write(self._recent.clear)
        return self._keystore

    @property
    def identity(self) -> IdentityChecker:
        if self._identity is None:
            from cloudgate.service.identity import IdentityChecker

            self._identity = IdentityChecker(self.settings)
        return self._identity

    @property
    def iap(self) -> IapVerifier | None:
        """The IAP assertion verifier, or ``None`` when ``CLOUDGATE_IAP_AUDIENCE`` is not set (IAP not read)."""
        if self._iap is None and self.settings.iap_audience.strip():
            from cloudgate.service.iap import IapVerifier

            self._iap = IapVerifier(self.settings)
        return self._iap

    def check_config(self) -> None:
        """Fail at start, not at the first request, on settings that cannot work; warn about ones that may not."""
        if self.settings.identity is not IdentityMode.OFF:
            _ = self.identity
        _ = self.iap
        _ = self.keystore
        url = self.settings.keystore
        # True of Cloud Run's instances, each with a copy of what the image held; not of one that reads the file
        # `cloudgate keys` writes (the deployer says so with CLOUDGATE_KEYSTORE_SHARED).
        if url.startswith("sqlite:") and os.environ.get(env_vars.K_SERVICE) and not self.settings.keystore_shared:
            logger.warning(
                "CLOUDGATE_KEYSTORE is an SQLite file, but on Cloud Run each instance has its own in-memory "
                "filesystem: keys created after the image was built, or on another instance, are not there. "
                "Use firestore://PROJECT/COLLECTION (shared by every instance) or file:///path.json on a Secret "
                "Manager volume"
            )
        elif url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            logger.warning("no API key store at %s yet: requests with an API key get 503 until keys are created", url)

    async def aclose(self) -> None:
        if self._identity is not None:
            await self._identity.aclose()
        if self._iap is not None:
            await self._iap.aclose()
        if self._keystore is not None:
            self._keystore.close()

    def recent_principal(self, creds: Credentials, requirement: Requirement) -> Principal | None:
        """The principal these credentials got from ``requirement`` recently (``RecentPrincipals``), or ``None``.

        Synchronous, so a repeat costs no coroutine: callers try it first and await ``principal_for`` on ``None``.
        """
        recent = self._recent
        principal = recent.get(requirement, creds) if recent is not None else None
        if principal is not None:
            creds.principal = principal
        return principal

    async def principal_for(self, creds: Credentials, requirement: Requirement) -> Principal:
        """The principal ``requirement`` lets through with ``creds``: from ``RecentPrincipals`` when these credentials
        passed it recently, else by the full check (remembered if it passes). Raises ``AuthError`` otherwise."""
        principal = self.recent_principal(creds, requirement)
        if principal is not None:
            return principal
        principal, record, identity = await self._check(
            creds, key=requirement.key, scope=requirement.scope, google=requirement.google, iap=requirement.iap
        )
        if self._recent is not None:
            self._recent.put(requirement, creds, principal, self._trusted_until(record, identity))
        creds.principal = principal
        return principal

    def _trusted_until(self, record: KeyRecord | None, identity: GoogleIdentity | IapIdentity | None) -> float:
        """Until when (on the key cache's clock) a principal built from ``record`` and ``identity`` may be reused:
        the key's cache entry and expiry, the ID token's or IAP assertion's ``exp`` plus skew, whichever ends first."""
        store = self.keystore
        assert isinstance(store, CachedKeyStore)  # RecentPrincipals exists only with one
        now, wall = store.clock(), time.time()
        until = math.inf
        if record is not None:
            fresh = store.fresh_until(record.key_id)
            until = -math.inf if fresh is None else fresh  # not cached (a concurrent write): not reused
            if record.expires_at is not None:
                until = min(until, now + record.expires_at.timestamp() - wall)
        if identity is not None:
            until = min(until, now + identity.expires_at + self.settings.clock_skew_seconds - wall)
        return until if until != math.inf else -math.inf  # nothing checked that bounds it: not reused

    async def authenticate(
        self, creds: Credentials, *, key: bool, scope: str | None, google: bool, iap: bool = False
    ) -> Principal:
        """The principal behind ``creds`` (the full check, never remembered); raises ``AuthError`` when a required
        part is missing or wrong."""
        principal, _, _ = await self._check(creds, key=key, scope=scope, google=google, iap=iap)
        creds.principal = principal
        return principal

    async def _check(
        self, creds: Credentials, *, key: bool, scope: str | None, google: bool, iap: bool = False
    ) -> tuple[Principal, KeyRecord | None, GoogleIdentity | IapIdentity | None]:
        header = self.settings.api_key_header
        record = None
        if key:
            api_keys = creds.api_keys
            if not api_keys:
                raise MissingCredentialsError(f"an API key is required in the {header} header", scheme="ApiKey")
            if len(api_keys) > 1:
                raise InvalidCredentialsError(f"send exactly one {header} header", scheme="ApiKey")
            record = await authenticate_async(self.keystore, api_keys[0])
            if scope is not None and not grants(record.scopes, scope):
                raise ForbiddenError(
                    f"API key {record.key_id} lacks the scope {scope!r}", reason=codes.SCOPE_MISSING, scope=scope
                )
        if iap:
            person = await self._iap_identity(creds)
            principal = Principal(
                email=person.email,
                key_id=record.key_id if record else None,
                key_name=record.name if record else None,
                scopes=record.scopes if record else frozenset(),
                email_source="iap",
            )
            return principal, record, person
        identity = await self._google_identity(creds, required=google)
        principal = Principal(
            email=identity.email if identity else None,
            key_id=record.key_id if record else None,
            key_name=record.name if record else None,
            scopes=record.scopes if record else frozenset(),
            email_source="id_token" if identity and identity.email else None,
        )
        return principal, record, identity

    async def _iap_identity(self, creds: Credentials) -> IapIdentity:
        """The person IAP signed in, from the verified assertion alone (``X-Goog-Authenticated-User-*`` never count),
        one of the allowed principals if those are set."""
        verifier = self.iap
        if verifier is None:
            raise ForbiddenError(
                f"this route needs an IAP sign-in, but the service has no {env_vars.IAP_AUDIENCE}",
                reason=codes.IAP_OFF,
            )
        person = await verifier.identify_values(creds.iap_assertions)
        if self._allowed and not self._allowed.allows(person.email, hosted_domain=person.hosted_domain):
            raise ForbiddenError(f"{person.email} is not an allowed principal", reason=codes.PRINCIPAL_NOT_ALLOWED)
        return person

    async def _google_identity(self, creds: Credentials, *, required: bool) -> GoogleIdentity | None:
        mode = self.settings.identity
        if mode is IdentityMode.OFF:
            if required:
                raise ForbiddenError(
                    "this route needs the caller's Google identity, but CLOUDGATE_IDENTITY=off",
                    reason=codes.IDENTITY_OFF,
                )
            return None
        if creds.bearer_problem is not None:
            raise InvalidCredentialsError(creds.bearer_problem, scheme="Bearer")
        if creds.bearer is None:
            if required:
                raise MissingCredentialsError(
                    "a Google ID token is required (X-Serverless-Authorization or Authorization: Bearer)",
                    scheme="Bearer",
                )
            return None
        identity = await self.identity.check(creds.bearer)
        email = identity.email
        if required and self._allowed and not self._allowed.allows(email):
            raise ForbiddenError(
                f"{email or identity.subject} is not an allowed principal", reason=codes.PRINCIPAL_NOT_ALLOWED
            )
        return identity
