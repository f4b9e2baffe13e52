"""Tokens as Google's authorization server makes them: checks jwt-bearer assertions, mints ID and access tokens.

- An assertion (what google-auth and gcloud POST to ``token_uri``) must be an RS256 JWT signed by one of the
  account's registered keys, ``iss`` the account's email, ``aud`` Google's token URI (google-auth hard-codes it)
  or the emulator's own, short-lived and current. Anything else is ``invalid_grant``, as at Google.
- ID tokens carry Google's claims (``iss``, ``aud``, ``azp``, ``sub``, ``email``, ``email_verified``, ``iat``,
  ``exp``) and are signed by ``SigningKeys``; their lifetime is the state's ``token_lifetime_seconds`` (1 h).
- Access tokens (``ya29.`` + principal and expiry, HMAC-sealed with a key in the state folder) survive restarts.
- A service account's self-signed JWT (``aud`` a Google API, signed with one of its keys) is taken as an access
  token, as Google's APIs take it (``self_signed_grant``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from cloudgate.emulator.core import iap
from cloudgate.emulator.core.counters import Counters
from cloudgate.emulator.core.keys import SigningKeys, sha256_hex
from cloudgate.emulator.core.state import StateStore
from cloudgate.errors import EmulatorError
from cloudgate.google import ID_TOKEN_ISSUER, ID_TOKEN_ISSUERS, TOKEN_URI

#: Google refuses assertions valid for more than an hour; allow a little clock skew on top.
_MAX_ASSERTION_LIFETIME_S = 3600
_ASSERTION_LEEWAY_S = 60
_ACCESS_TOKEN_LIFETIME_S = 3600
_ACCESS_KEY_FILE = "access-token.key"
#: How many verified ID tokens the front end remembers at most (as the service's own cache does).
VERIFIED_CACHE_SIZE = 10_000


class GrantError(EmulatorError):
    """The token endpoint refuses a grant: ``error`` and ``description`` as Google words them."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class IdTokenError(EmulatorError):
    """An ID token presented to the front end is not acceptable; ``reason`` is a counter label."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"ID token refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Verified:
    """An ID token whose signature, issuer and claims checked out: enough to accept it again without RSA."""

    claims: dict[str, Any]
    kid: str
    audiences: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class AccessGrant:
    """Who an access token speaks for (``serviceAccount:EMAIL`` or ``user:EMAIL``) and until when."""

    member: str
    expires_at: float
    #: A federated principal's mapped attributes (``google.subject``, ``attribute.repository``); empty otherwise.
    attributes: dict[str, Any] = field(default_factory=dict)
    #: The account's or user's numeric id when the token was minted: a re-created account is someone else.
    subject_id: str = ""


class TokenIssuer:
    """Checks grants and mints tokens against one state folder and one set of signing keys.

    ``clock`` is the wall clock (Unix seconds) that ``iat``/``exp`` are minted from and checked against; tests
    pass their own to move time without sleeping.
    """

    def __init__(
        self, store: StateStore, keys: SigningKeys, counters: Counters, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.keys = keys
        self.counters = counters
        self._clock = clock
        self._access_secret: bytes | None = None
        self._lock = threading.Lock()
        #: Verified ID tokens by SHA-256 of the token, oldest first (dicts keep insertion order).
        self._verified: dict[bytes, _Verified] = {}
        self._verified_lock = threading.Lock()

    def now(self) -> float:
        """The issuer's clock (Unix seconds), which other token checks share (``sts_api.py``)."""
        return self._clock()

    # -- grants ---------------------------------------------------------------------------------------------

    def check_assertion(self, assertion: str, *, token_url: str) -> tuple[str, dict[str, Any]]:
        """The account email and claims of a valid jwt-bearer assertion; ``GrantError`` otherwise."""
        return self._account_jwt(assertion, audience=[TOKEN_URI, token_url])

    def self_signed_grant(self, token: str) -> AccessGrant | None:
        """Who a service account's self-signed JWT speaks for, or ``None``.

        Google's APIs take one in place of an access token (cloud.google.com/iam/docs/create-short-lived-credentials-direct#sa-credentials-jwt):
        ``iss`` = ``sub`` = the account, ``aud`` ``https://SERVICE.googleapis.com/`` or a ``scope`` claim, at most
        an hour, signed by one of the account's keys. google-auth sends one for a key file's credentials in
        Google's client libraries (``always_use_jwt_access``), so a library run with such a key makes no token
        call at all."""
        try:
            email, claims = self._account_jwt(token, audience=None)
        except GrantError:
            return None
        audience, scope = claims.get("aud"), claims.get("scope")
        google_api = (
            isinstance(audience, str) and audience.startswith("https://") and audience.endswith(".googleapis.com/")
        )
        account = self.store.current().accounts.get(email)
        if claims.get("sub") != email or not (google_api or (isinstance(scope, str) and scope)) or account is None:
            return None
        return AccessGrant(f"serviceAccount:{email}", float(claims["exp"]), {}, account.unique_id)

    def _account_jwt(self, token: str, *, audience: list[str] | None) -> tuple[str, dict[str, Any]]:
        """The email and claims of an RS256 JWT that a service account signed with one of its keys (``iss``),
        current and at most an hour long, for one of ``audience`` (``None``: the caller checks ``aud``)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise GrantError("invalid_grant", "Invalid JWT: could not be decoded.") from exc
        email = unverified.get("iss")
        state = self.store.current()
        account = state.accounts.get(email) if isinstance(email, str) else None
        if account is None or account.disabled:
            raise GrantError("invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        candidates = [account.keys[kid]] if kid in account.keys else [] if kid else list(account.keys.values())
        for public in candidates:
            # exp/iat are checked below against ``self._clock`` (PyJWT would read the wall clock itself).
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    public,
                    algorithms=["RS256"],
                    audience=audience,
                    options={
                        "require": ["iss", "iat", "exp"] if audience is None else ["iss", "aud", "iat", "exp"],
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_aud": audience is not None,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.MissingRequiredClaimError as exc:
                raise GrantError("invalid_grant", _TIMEFRAME) from exc
            except jwt.InvalidAudienceError as exc:
                raise GrantError("invalid_grant", "Invalid JWT: audience is not the token endpoint.") from exc
            except jwt.PyJWTError as exc:
                raise GrantError("invalid_grant", "Invalid JWT Signature.") from exc
            iat, exp = claims["iat"], claims["exp"]
            now = self._clock()
            if (
                not _is_int(iat)
                or not _is_int(exp)
                or exp - iat > _MAX_ASSERTION_LIFETIME_S
                or exp <= now - _ASSERTION_LEEWAY_S
                or iat > now + _ASSERTION_LEEWAY_S
            ):
                raise GrantError("invalid_grant", _TIMEFRAME)
            return email, claims  # type: ignore[return-value]
        raise GrantError("invalid_grant", "Invalid JWT Signature.")

    def check_refresh_token(self, client_id: str, client_secret: str, refresh_token: str) -> str:
        """The email of the user whose refresh token and client credentials these are."""
        state = self.store.current()
        secret_hash, token_hash = sha256_hex(client_secret), sha256_hex(refresh_token)
        client_known = False
        for email, user in state.users.items():
            # Bytes: compare_digest refuses str with non-ASCII characters, and client_id comes from the request.
            if not hmac.compare_digest(user.client_id.encode(), client_id.encode()):
                continue
            client_known = True
            if hmac.compare_digest(user.refresh_token_sha256, token_hash) and hmac.compare_digest(
                user.client_secret_sha256, secret_hash
            ):
                return email
        if not client_known:
            raise GrantError("invalid_client", "The OAuth client was not found.", status=401)
        raise GrantError("invalid_grant", "Bad Request")

    # -- minting --------------------------------------------------------------------------------------------

    def mint_id_token(self, email: str, audience: str, *, include_email: bool = True, numeric_azp: bool = False) -> str:
        """An ID token for a service account or user ``email``, for ``audience``.

        ``azp`` is the email for tokens minted from a key (jwt-bearer), but the account's numeric id in tokens
        from the metadata server and ``generateIdToken`` (``numeric_azp``), as Google mints them
        (google-auth-library-python #746).
        """
        state = self.store.current()
        if email in state.accounts:
            subject = state.accounts[email].unique_id
        elif email in state.users:
            subject = state.users[email].unique_id
        elif email == iap.agent_email(state.project_number):  # Google's service agent: in every project
            subject = iap.agent_unique_id(state.project_number)
        else:
            raise EmulatorError(f"no account {email!r}")
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": ID_TOKEN_ISSUER,
            "aud": audience,
            "azp": subject if numeric_azp or not include_email else email,
            "sub": subject,
            "iat": now,
            "exp": now + state.token_lifetime_seconds,
        }
        if include_email:
            claims.update(email=email, email_verified=True)
        token = self.keys.sign(claims)
        self.counters.add("id_tokens_by_account", email)
        self.counters.add("id_tokens_by_audience", audience)
        return token

    def mint_access_token(self, member: str, *, attributes: dict[str, Any] | None = None) -> tuple[str, int]:
        """An access token for ``member`` and its lifetime in seconds.

        The token carries its principal and expiry, sealed with an HMAC key kept in the state folder
        (``access-token.key``, mode 0600): it stays valid across emulator restarts, so a gcloud config folder
        that cached one keeps working (gcloud resends a cached token even after a 401).
        """
        expires_at = int(self._clock()) + _ACCESS_TOKEN_LIFETIME_S
        data: dict[str, Any] = {"m": member, "e": expires_at}
        kind, _, email = member.partition(":")
        state = self.store.current()
        record = state.accounts.get(email) if kind == "serviceAccount" else state.users.get(email)
        if kind in ("serviceAccount", "user") and record is not None:
            data["u"] = record.unique_id
        if attributes:
            data["a"] = attributes  # a federated token (sts_api.py) carries what the policy may match on
        body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")
        token = "ya29." + body.decode() + "." + self._seal(body)
        self.counters.add("access_tokens_by_principal", member)
        return token, _ACCESS_TOKEN_LIFETIME_S

    def access_grant(self, token: str) -> AccessGrant | None:
        """Who a live access token speaks for, or ``None``."""
        body, _, seal = token.removeprefix("ya29.").partition(".")
        try:
            raw = body.encode("ascii")
            if not hmac.compare_digest(self._seal(raw).encode(), seal.encode("ascii")):
                return None
            data = json.loads(base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4)))
            grant = AccessGrant(str(data["m"]), float(data["e"]), dict(data.get("a") or {}), str(data.get("u", "")))
        except (UnicodeEncodeError, ValueError, KeyError, TypeError):
            return None
        return grant if grant.expires_at > self._clock() else None

    def _seal(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.digest(self._access_key(), body, "sha256")).rstrip(b"=").decode()

    def _access_key(self) -> bytes:
        with self._lock:
            if self._access_secret is None:
                path = self.store.folder / _ACCESS_KEY_FILE
                try:
                    self._access_secret = path.read_bytes()
                except FileNotFoundError:
                    self.store.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                    secret = secrets.token_bytes(32)
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    except FileExistsError:  # another process made it meanwhile
                        secret = path.read_bytes()
                    else:
                        with os.fdopen(fd, "wb") as handle:
                            handle.write(secret)
                    self._access_secret = secret
            return self._access_secret

    # -- checking ID tokens (the Cloud Run front end) ------------------------------------------------------

    def verify_id_token(self, token: str, audiences: frozenset[str]) -> dict[str, Any]:
        """The claims of an emulator-signed, current ID token for one of ``audiences``; ``IdTokenError`` if not.

        The front end asks this on every request, and a client sends the same token for up to an hour, so a
        token that passed is remembered (by its SHA-256, until ``exp``) and accepted again without the RSA
        check. What can change meanwhile is checked on every call: expiry, the service's audiences, and that
        the signing key is still published (a key dropped by rotation takes its tokens with it).
        """
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        with self._verified_lock:
            known = self._verified.get(digest)
        if known is not None:
            if self._clock() >= known.expires_at:
                self._forget(digest)
                raise IdTokenError("expired_token")
            if self.keys.public_key(known.kid) is not None:
                if not known.audiences & audiences:
                    raise IdTokenError("wrong_audience")
                return dict(known.claims)
            self._forget(digest)  # its key was rotated out: the full check below refuses it
        claims, kid = self._verify_signed(token, audiences)
        aud = claims["aud"]
        remembered = _Verified(
            claims=dict(claims),
            kid=kid,
            audiences=frozenset([aud] if isinstance(aud, str) else aud),
            expires_at=float(claims["exp"]),
        )
        with self._verified_lock:
            if digest not in self._verified and len(self._verified) >= VERIFIED_CACHE_SIZE:
                # The oldest entry is, with one lifetime for all tokens, the soonest to expire.
                del self._verified[next(iter(self._verified))]
            self._verified[digest] = remembered
        return claims

    def _forget(self, digest: bytes) -> None:
        with self._verified_lock:
            self._verified.pop(digest, None)

    def _verify_signed(self, token: str, audiences: frozenset[str]) -> tuple[dict[str, Any], str]:
        """The full check (RS256 signature included): the claims and the signing key's id."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise IdTokenError("malformed_token") from exc
        if not isinstance(kid, str):
            raise IdTokenError("unknown_signing_key")
        public = self.keys.public_key(kid)
        if public is None:
            raise IdTokenError("unknown_signing_key")
        try:  # exp is checked below against ``self._clock`` (PyJWT would read the wall clock itself)
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=["RS256"],
                audience=list(audiences),
                options={"require": ["iss", "aud", "exp", "iat", "sub"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise IdTokenError("wrong_audience") from exc
        except jwt.InvalidSignatureError as exc:
            raise IdTokenError("bad_signature") from exc
        except jwt.PyJWTError as exc:
            raise IdTokenError("malformed_token") from exc
        if not _is_int(claims["exp"]) or not _is_int(claims["iat"]):
            raise IdTokenError("malformed_token")
        if self._clock() >= claims["exp"]:
            raise IdTokenError("expired_token")
        if claims.get("iss") not in ID_TOKEN_ISSUERS:
            raise IdTokenError("wrong_issuer")
        return claims, kid


_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
