"""IAP's public keys, published as Google publishes them on ``www.gstatic.com``.

- ``GET /iap/verify/public_key-jwk``: JWKS of IAP's ES256 keys (what ``CLOUDGATE_IAP_JWKS_URL`` points at);
- ``GET /iap/verify/public_key``: the same keys as ``{kid: PEM}``.

Both on the emulator's Google port and, through the HTTPS proxy (``tls_proxy.py``), as
``https://www.gstatic.com/iap/verify/...``. The assertions the front end's IAP gate mints (``serving/iap_gate.py``)
verify against exactly these keys.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.iap import JWKS_PATH, PEM_KEYS_PATH

#: IAP's keys change rarely; Google serves them with a cache lifetime too.
_MAX_AGE_S = 3600


def iap_key_routes(ctx: EmulatorContext) -> list[Route]:
    """The two documents of IAP's public keys."""
    headers = {"cache-control": f"public, max-age={_MAX_AGE_S}"}

    async def jwks(request: Request) -> Response:
        return JSONResponse(ctx.iap_signing_keys().jwks(), headers=headers)

    async def pem_keys(request: Request) -> Response:
        return JSONResponse(ctx.iap_signing_keys().pem_keys(), headers=headers)

    return [Route(JWKS_PATH, jwks, methods=["GET"]), Route(PEM_KEYS_PATH, pem_keys, methods=["GET"])]
