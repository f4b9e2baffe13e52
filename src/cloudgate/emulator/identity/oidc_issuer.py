"""OIDC issuers that stand in for a CI system's (GitHub Actions' ``https://token.actions.githubusercontent.com``).

Each issuer has a name (``github``) and answers at ``{emulator}/oidc/{name}``: its discovery document
(``/.well-known/openid-configuration``) and its keys (``/.well-known/jwks``), as GitHub publishes them. Its
tokens are RS256 JWTs signed with keys of its own (``<state>/oidc/<name>/``, mode 0600), never the keys that
sign Google ID tokens: a CI token must not pass Cloud Run's front end. ``cloudgate emulator oidc-token`` prints
one, the way a GitHub job asks its runner for one (``permissions: id-token: write``).

Example::

    token = mint_subject_token(state_dir, "http://127.0.0.1:8089", "github", subject="repo:org/repo:ref:refs/heads/main",
                               audience="https://iam.googleapis.com/projects/1/...", claims={"repository": "org/repo"})
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.keys import SigningKeys
from cloudgate.errors import EmulatorError

#: Issuer names: short, lowercase, safe in a path and a folder name.
ISSUER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
#: GitHub's OIDC tokens are short-lived; five minutes is the default here too.
DEFAULT_LIFETIME_S = 300
_RESERVED = frozenset({"iss", "aud", "sub", "iat", "nbf", "exp", "jti"})


def issuer_url(base_url: str, name: str) -> str:
    """The issuer URI of the emulator's issuer ``name`` (what ``providers create-oidc --issuer-uri`` takes)."""
    return f"{base_url.rstrip('/')}/oidc/{check_issuer_name(name)}"


def check_issuer_name(name: str) -> str:
    if not ISSUER_NAME.match(name):
        raise EmulatorError(f"invalid issuer name {name!r}: 1-30 lowercase letters, digits and dashes")
    return name


@functools.lru_cache(maxsize=64)
def issuer_keys(state_dir: Path, name: str) -> SigningKeys:
    """The signing keys of issuer ``name`` in the state folder (made on first use).

    One instance per issuer and folder: loading RSA keys costs tens of milliseconds, and ``SigningKeys`` notices
    keys another process (the CLI) wrote by itself.
    """
    return SigningKeys(state_dir / "oidc" / check_issuer_name(name))


def mint_subject_token(
    state_dir: Path,
    base_url: str,
    name: str,
    *,
    subject: str,
    audience: str,
    claims: dict[str, str] | None = None,
    lifetime_s: int = DEFAULT_LIFETIME_S,
    issued_ago_s: int = 0,
    now: float | None = None,
) -> str:
    """A token of issuer ``name`` for ``subject`` and ``audience``, with extra string ``claims`` (``repository``).

    ``issued_ago_s`` back-dates it (with ``lifetime_s`` shorter than that, it is already expired).
    """
    if not subject or not audience:
        raise EmulatorError("a subject token needs a subject and an audience")
    extra = dict(claims or {})
    clash = sorted(_RESERVED & extra.keys())
    if clash:
        raise EmulatorError(f"--claim cannot set the registered claim(s) {', '.join(clash)}; use the options")
    issued = int(time.time() if now is None else now) - issued_ago_s
    body: dict[str, Any] = {
        **extra,
        "iss": issuer_url(base_url, name),
        "aud": audience,
        "sub": subject,
        "jti": secrets.token_hex(16),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_s,
    }
    return issuer_keys(state_dir, name).sign(body)


def oidc_routes(ctx: EmulatorContext) -> list[Route]:
    """Discovery document and JWKS of every issuer that signed a token (a request never creates one)."""

    def keys_of(request: Request) -> tuple[str, SigningKeys] | None:
        name = request.path_params["name"]
        if not ISSUER_NAME.match(name) or not (ctx.store.folder / "oidc" / name).is_dir():
            return None
        return name, issuer_keys(ctx.store.folder, name)

    async def discovery(request: Request) -> Response:
        found = keys_of(request)
        if found is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        issuer = issuer_url(ctx.base_url, found[0])
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks",
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
            }
        )

    async def jwks(request: Request) -> Response:
        found = keys_of(request)
        if found is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(found[1].jwks())

    return [
        Route("/oidc/{name}/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/oidc/{name}/.well-known/jwks", jwks, methods=["GET"]),
    ]
