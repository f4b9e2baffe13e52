"""Every error cloudgate raises, in one tree.

::

    CloudgateError                      base of everything below
    ├── ConfigError (ValueError)        bad settings, bad files, bad arguments
    │   └── InvalidResourceError        a Cloud Run resource Google would refuse (400 INVALID_ARGUMENT; ``field``)
    ├── AuthError                       a request's credentials were refused
    │   ├── MissingCredentialsError     nothing was presented (HTTP 401)
    │   ├── InvalidCredentialsError     presented but wrong, expired, revoked, malformed (HTTP 401)
    │   ├── ForbiddenError              valid, but not allowed here (HTTP 403)
    │   └── ThrottledError              too many failures from this client (HTTP 429)
    ├── UnavailableError                the service cannot check credentials right now (HTTP 503)
    ├── KeyStoreError                   an API key store could not be read or written
    ├── TokenSourceError                a token source applied but could not get an ID token (``retryable`` says if trying again may help)
    │   └── NoTokenSourceError          no token source applied (lists what was tried)
    ├── RequestError                    a call to a private service failed (``status``, ``hint``)
    ├── AppError                        an app's own refusal of a request (``status``, ``headers``); apps subclass it
    ├── EmulatorError                   the local emulator refused a request or could not start
    └── DeployError                     a deploy step failed or its result did not check out

Messages never contain a secret: not a password, an API key, a token or a private key.
"""

from __future__ import annotations


class CloudgateError(Exception):
    """Base class of every error cloudgate raises."""

    #: Exit code the CLI uses when this error ends a command.
    exit_code: int = 1


class ConfigError(CloudgateError, ValueError):
    """Settings, a file or an argument is wrong; the message says which and how to fix it."""

    exit_code = 2


class InvalidResourceError(ConfigError):
    """A Cloud Run resource (a Knative Service) that Cloud Run's admin API refuses; ``field`` is its path."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class AuthError(CloudgateError):
    """A request's credentials were refused. ``status`` is the HTTP status a route answers with.

    ``reason`` is the machine-readable cause sent in the refusal body (one of ``cloudgate.codes``); when it is not
    given, the service derives it from the class and ``scheme`` (a missing or invalid API key, ID token, password).
    """

    status: int = 401

    def __init__(self, message: str, *, scheme: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        #: The authentication scheme to name in ``WWW-Authenticate`` (``Basic``, ``Bearer``, ``ApiKey``).
        self.scheme = scheme
        self.reason = reason


class MissingCredentialsError(AuthError):
    """No credentials were presented."""


class InvalidCredentialsError(AuthError):
    """Credentials were presented but are wrong, expired, revoked or malformed."""


class ForbiddenError(AuthError):
    """Credentials are valid but do not allow this request (scope, principal); ``scope`` names a missing scope."""

    status = 403

    def __init__(self, message: str, *, reason: str | None = None, scope: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.scope = scope


class ThrottledError(AuthError):
    """Too many failed attempts from one client; ``retry_after`` is in seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: int, scheme: str | None = None) -> None:
        super().__init__(message, scheme=scheme)
        self.retry_after = retry_after


class UnavailableError(CloudgateError):
    """Something the service checks credentials against (signing keys, the key store) cannot be reached now.

    Not the caller's fault, so not a 401: the service answers 503 with ``Retry-After``.
    """

    status = 503

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KeyStoreError(CloudgateError):
    """An API key store could not be read or written."""


class TokenSourceError(CloudgateError):
    """A client could not obtain an ID token from a source that applied."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class NoTokenSourceError(TokenSourceError):
    """No token source applied; the message lists every source tried."""


class RequestError(CloudgateError):
    """A call to a private service failed; ``hint`` says what to do about it."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")
        self.status = status
        self.hint = hint


class AppError(CloudgateError):
    """An app's own refusal of a request. Subclass it for your app's errors: ``protect()`` answers every one with
    ``status``, the common body (``{"error": code, "detail": message}``) and ``headers`` (e.g. ``Retry-After``).

    Example::

        class DatasetError(AppError):
            pass

        raise DatasetError("no dataset named 'x'", status=404)
    """

    def __init__(self, message: str, *, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


class EmulatorError(CloudgateError):
    """The local emulator refused a request or could not start."""


class DeployError(CloudgateError):
    """A deploy step failed, or its result did not check out when read back."""
