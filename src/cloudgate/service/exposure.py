"""Loud start-up warnings for ``cloud-run`` identity mode where nothing may stand in front of the service.

In ``cloud-run`` mode the service trusts ID-token claims whose signature Google removed (``shared/CLOUD_RUN.md``):
that is safe only while Cloud Run's IAM check is the one way in. Anyone who reaches the port directly can write
any claims they like. Two situations are worth a WARNING line at start:

- not on Cloud Run (``K_SERVICE`` unset): nothing here proves a front end checks tokens;
- additionally bound to a non-loopback address while some route requires a Google identity: anyone on the network
  can pose as any principal on those routes.

On Cloud Run (``K_SERVICE`` set) the container must listen on ``0.0.0.0`` and only the front end reaches it, so
neither warning applies there.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

from cloudgate import env_vars
from cloudgate.service.settings import IdentityMode, ServiceSettings

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def warn_off_cloud_run(settings: ServiceSettings) -> bool:
    """Warn (and return True) when ``cloud-run`` identity mode runs without ``K_SERVICE``."""
    if settings.identity is not IdentityMode.CLOUD_RUN or os.environ.get(env_vars.K_SERVICE):
        return False
    logger.warning(
        "SECURITY: %s=cloud-run trusts ID-token claims WITHOUT checking their signature, which is safe only behind "
        "Cloud Run's IAM check; %s is not set, so this does not look like Cloud Run. Make sure only a front end "
        "that verifies tokens (Cloud Run, or `cloudgate dev`'s emulator) can reach this port, or use %s=verify.",
        env_vars.IDENTITY,
        env_vars.K_SERVICE,
        env_vars.IDENTITY,
    )
    return True


def warn_public_identity_routes(app: Any, host: str) -> bool:
    """Warn (and return True) when an off-Cloud-Run ``cloud-run``-mode app with identity routes binds publicly."""
    settings: ServiceSettings | None = getattr(getattr(app, "state", None), "cloudgate_settings", None)
    if settings is None or settings.identity is not IdentityMode.CLOUD_RUN or os.environ.get(env_vars.K_SERVICE):
        return False
    if is_loopback(host):
        return False
    from cloudgate.service.openapi import routes_requiring_identity

    routes = routes_requiring_identity(app)
    if not routes:
        return False
    shown = ", ".join(routes[:5]) + (" ..." if len(routes) > 5 else "")
    logger.warning(
        "SECURITY: listening on %s with %s=cloud-run off Cloud Run: anyone who reaches this port can send made-up "
        "ID-token claims and pose as any Google principal on %s. Bind to 127.0.0.1 behind a verifying front end, "
        "or use %s=verify.",
        host,
        env_vars.IDENTITY,
        shown,
        env_vars.IDENTITY,
    )
    return True
