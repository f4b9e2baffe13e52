"""Calling a private Cloud Run service: ID tokens from the usual sources, cached, sent the way Cloud Run wants.

Example::

    from cloudgate.client import Client

    with Client("https://svc-abc-uc.a.run.app", api_key="...") as client:
        print(client.get("/v1/whoami").json())

Token sources, in order: an explicit credentials file, ``GOOGLE_APPLICATION_CREDENTIALS`` (either may be a
Workload Identity Federation configuration), the metadata
server, impersonation from your own login, ``gcloud auth print-identity-token`` (see :mod:`.sources`).
"""

from __future__ import annotations

from cloudgate.client.async_client import AsyncClient
from cloudgate.client.auth import IdTokenAuth
from cloudgate.client.client import Client
from cloudgate.client.provider import TokenProvider
from cloudgate.client.retries import RetryPolicy
from cloudgate.client.tokens import IdToken

__all__ = ["AsyncClient", "Client", "IdToken", "IdTokenAuth", "RetryPolicy", "TokenProvider"]
