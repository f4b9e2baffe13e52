"""What crosses the wire between cloudgate's parts: error codes, reasons and header names that never change.

Every refusal a cloudgate service (or the emulator's admin API) answers has the body::

    {"error": "<code>", "detail": "<message for people>"}

``error`` is one of the codes below, chosen by the HTTP status. An authentication or authorization refusal also
carries ``reason``, one of the reasons below, saying exactly what was wrong, and a missing scope names it in
``scope``. Clients decide on ``error``, ``reason`` and ``scope``, never on ``detail``: messages are for people and
may be reworded at will; these strings are a contract and are only ever added to.

This module is at the bottom of the house: service, client and emulator all import it, and it imports nothing.
"""

from __future__ import annotations

from typing import Final

#: The header that carries an API key (the service's default; ``CLOUDGATE_API_KEY_HEADER`` may rename it).
API_KEY_HEADER: Final = "X-API-Key"

# --- error: what kind of refusal (one per HTTP status) ---
BAD_REQUEST: Final = "bad_request"
UNAUTHENTICATED: Final = "unauthenticated"
FORBIDDEN: Final = "forbidden"
NOT_FOUND: Final = "not_found"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
CONFLICT: Final = "conflict"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
UNPROCESSABLE: Final = "unprocessable"
TOO_MANY_REQUESTS: Final = "too_many_requests"
HEADERS_TOO_LARGE: Final = "headers_too_large"
INTERNAL: Final = "internal"
UNAVAILABLE: Final = "unavailable"
TIMEOUT: Final = "timeout"
CLIENT_ERROR: Final = "client_error"
SERVER_ERROR: Final = "server_error"

_BY_STATUS: Final = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    409: CONFLICT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    422: UNPROCESSABLE,
    429: TOO_MANY_REQUESTS,
    431: HEADERS_TOO_LARGE,
    500: INTERNAL,
    503: UNAVAILABLE,
    504: TIMEOUT,
}

# --- reason: what exactly was wrong with the credentials (401, 403, 429) ---
API_KEY_MISSING: Final = "api_key_missing"
#: Unknown, wrong, malformed, or more than one key header.
API_KEY_INVALID: Final = "api_key_invalid"
API_KEY_EXPIRED: Final = "api_key_expired"
API_KEY_REVOKED: Final = "api_key_revoked"
#: The key is fine but lacks the scope the route needs; the body's ``scope`` names it.
SCOPE_MISSING: Final = "scope_missing"
ID_TOKEN_MISSING: Final = "id_token_missing"
#: Expired, wrong audience, bad signature, unverified email, malformed.
ID_TOKEN_INVALID: Final = "id_token_invalid"
#: The route reads an IAP identity and the request has no ``X-Goog-IAP-JWT-Assertion`` (unsigned
#: ``X-Goog-Authenticated-User-*`` headers alone do not count).
IAP_ASSERTION_MISSING: Final = "iap_assertion_missing"
#: Bad signature, unknown key, wrong alg, iss or aud, expired, issued in the future, malformed.
IAP_ASSERTION_INVALID: Final = "iap_assertion_invalid"
#: The route needs an IAP sign-in but the service reads no IAP assertions (``CLOUDGATE_IAP_AUDIENCE`` unset).
IAP_OFF: Final = "iap_off"
#: The Google identity is valid but not in the service's allowed principals.
PRINCIPAL_NOT_ALLOWED: Final = "principal_not_allowed"
#: The route needs a Google identity but the service runs with identity checks off.
IDENTITY_OFF: Final = "identity_off"
PASSWORD_MISSING: Final = "password_missing"
PASSWORD_INVALID: Final = "password_invalid"
#: Too many failed attempts from this client; the response carries ``Retry-After``.
THROTTLED: Final = "throttled"


def for_status(status: int) -> str:
    """The ``error`` code for an HTTP status."""
    return _BY_STATUS.get(status, CLIENT_ERROR if status < 500 else SERVER_ERROR)
