"""cloudgate: run, call and emulate private, secured FastAPI services on Google Cloud Run.

The package is split so that each part imports only what it needs:

- ``cloudgate.service``: what runs in the container (docs guard, API keys, caller identity, logs).
- ``cloudgate.client``: what calls a private service (ID tokens, retries, paging, a local proxy).
- ``cloudgate.emulator``: Google's side on localhost (token endpoint, certs, metadata, Cloud Run front end).
- ``cloudgate.deploy``: shipping to Cloud Run (plan, runner, read-back audit).

``import cloudgate`` itself imports none of them, so ``import cloudgate.service`` stays fast.
"""

from cloudgate.errors import CloudgateError, ConfigError

__version__ = "0.1.0"

__all__ = ["CloudgateError", "ConfigError", "__version__"]
