"""``Annotated`` aliases so routes read like prose: ``async def whoami(caller: KeyCaller)``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from cloudgate.service.auth import require_google, require_iap, require_key
from cloudgate.service.principal import Principal

#: Any valid API key, whatever its scopes.
KeyCaller = Annotated[Principal, Depends(require_key())]
#: A Google identity (one of the allowed principals, if configured).
GoogleCaller = Annotated[Principal, Depends(require_google())]
#: A person signed in through Identity-Aware Proxy (one of the allowed principals, if configured).
IapCaller = Annotated[Principal, Depends(require_iap())]
