"""ID tokens from the metadata server, the way code running on Google Cloud (Cloud Run, GCE, GKE) gets them.

Like google-auth: a detection ping (HTTP 200 with ``Metadata-Flavor: Google``) at ``GCE_METADATA_IP``, then
``GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=A&format=full`` on
``GCE_METADATA_HOST``, whose body is the raw JWT. Unlike google-auth, both variables are read on every call
(google-auth reads the host once at import), so tests and long-lived processes can point it elsewhere.
"""

from __future__ import annotations

import logging
import os

import httpx

from cloudgate import env_vars
from cloudgate.client.tokens import IdToken
from cloudgate.errors import TokenSourceError
from cloudgate.google import METADATA_FLAVOR, METADATA_FLAVOR_HEADER, METADATA_HOST, METADATA_IP

logger = logging.getLogger(__name__)

_IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
#: Off Google Cloud the ping goes nowhere; keep it short so the next source is tried quickly.
_PING_TIMEOUT_S = 0.5
_FETCH_TIMEOUT_S = 10.0


def _host_url(host: str) -> str:
    return host.rstrip("/") if "://" in host else f"http://{host}"


class MetadataSource:
    """Token source: the metadata server, if one answers."""

    name = "metadata server"

    def __init__(self) -> None:
        self.skip_reason = ""

    def fetch(self, audience: str) -> IdToken | None:
        """The instance's ID token for ``audience``; ``None`` when no metadata server answers."""
        explicit_host = os.environ.get(env_vars.GCE_METADATA_HOST)
        ping_at = os.environ.get(env_vars.GCE_METADATA_IP) or explicit_host or METADATA_IP
        if not self._ping(_host_url(ping_at)):
            self.skip_reason = f"no metadata server answered at {ping_at}"
            return None
        root = _host_url(explicit_host or METADATA_HOST)
        try:
            response = httpx.get(
                root + _IDENTITY_PATH,
                params={"audience": audience, "format": "full"},
                headers={METADATA_FLAVOR_HEADER: METADATA_FLAVOR},
                timeout=_FETCH_TIMEOUT_S,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise TokenSourceError(
                f"the metadata server at {root} did not answer the identity request ({type(exc).__name__})",
                retryable=True,
            ) from exc
        if response.status_code != 200:
            raise TokenSourceError(
                f"the metadata server at {root} refused an ID token (HTTP {response.status_code}): check that "
                "the instance has a service account",
                retryable=response.status_code >= 500,
            )
        return IdToken.from_jwt(response.text, source=self.name)

    @staticmethod
    def _ping(root: str) -> bool:
        try:
            response = httpx.get(
                root + "/", headers={METADATA_FLAVOR_HEADER: METADATA_FLAVOR}, timeout=_PING_TIMEOUT_S, trust_env=False
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.headers.get(METADATA_FLAVOR_HEADER) == METADATA_FLAVOR
