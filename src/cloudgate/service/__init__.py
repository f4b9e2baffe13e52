"""What runs inside the Cloud Run container: ``protect(app)`` and the dependencies routes declare.

Importing this package imports FastAPI and pydantic but nothing of the emulator, deploy or client code.
"""

from cloudgate.service.app import protect
from cloudgate.service.auth import (
    GoogleRequirement,
    KeyAndGoogleRequirement,
    KeyRequirement,
    Requirement,
    caller,
    require,
    require_google,
    require_key,
)
from cloudgate.service.deps import GoogleCaller, KeyCaller
from cloudgate.service.principal import Principal
from cloudgate.service.route import CloudgateRoute
from cloudgate.service.settings import IdentityMode, ServiceSettings, get_settings

__all__ = [
    "CloudgateRoute",
    "GoogleCaller",
    "GoogleRequirement",
    "IdentityMode",
    "KeyAndGoogleRequirement",
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
    "require_key",
]
