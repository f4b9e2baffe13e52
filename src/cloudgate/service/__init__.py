"""What runs inside the Cloud Run container: ``protect(app)`` and the dependencies routes declare.

Importing this package imports FastAPI and pydantic but nothing of the emulator, deploy or client code.
"""

from cloudgate.service.app import protect
from cloudgate.service.auth import (
    GoogleRequirement,
    IapRequirement,
    KeyAndGoogleRequirement,
    KeyAndIapRequirement,
    KeyRequirement,
    Requirement,
    caller,
    require,
    require_google,
    require_iap,
    require_key,
)
from cloudgate.service.deps import GoogleCaller, IapCaller, KeyCaller
from cloudgate.service.principal import Principal
from cloudgate.service.route import CloudgateRoute
from cloudgate.service.settings import DocsAuth, IdentityMode, ServiceSettings, get_settings

__all__ = [
    "CloudgateRoute",
    "DocsAuth",
    "GoogleCaller",
    "GoogleRequirement",
    "IapCaller",
    "IapRequirement",
    "IdentityMode",
    "KeyAndGoogleRequirement",
    "KeyAndIapRequirement",
    "KeyCaller",
    "KeyRequirement",
    "Principal",
    "Requirement",
    "ServiceSettings",
    "caller",
    "get_settings",
    "protect",
    "require",
    "require_google",
    "require_iap",
    "require_key",
]
