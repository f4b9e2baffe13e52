"""``Annotated`` aliases so the routes read like prose: who may call, and what the route works with.

Scopes: ``datasets:read`` (list, rows, export), ``datasets:write`` (upload), ``datasets:admin`` (delete).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.admission import Guards
from app.catalog import Catalog
from app.paging import CursorCodec
from app.settings import DataSettings
from app.warmup import Warmup
from cloudgate.service import Principal, require_key

READ_SCOPE = "datasets:read"
WRITE_SCOPE = "datasets:write"
ADMIN_SCOPE = "datasets:admin"

#: Any valid API key, whatever its scopes.
Caller = Annotated[Principal, Depends(require_key())]
Reader = Annotated[Principal, Depends(require_key(READ_SCOPE))]
Writer = Annotated[Principal, Depends(require_key(WRITE_SCOPE))]
Admin = Annotated[Principal, Depends(require_key(ADMIN_SCOPE))]


async def _catalog(request: Request) -> Catalog:
    """The catalog, once the start-up's data step is done (the sample is written after the server listens)."""
    warmup: Warmup | None = request.app.state.warmup
    if warmup is not None:
        await warmup.ready()
    catalog: Catalog = request.app.state.catalog
    return catalog


async def _data_settings(request: Request) -> DataSettings:
    settings: DataSettings = request.app.state.data_settings
    return settings


async def _cursor_codec(request: Request) -> CursorCodec:
    codec: CursorCodec = request.app.state.cursor_codec
    return codec


async def _guards(request: Request) -> Guards:
    guards: Guards = request.app.state.guards
    return guards


CatalogDep = Annotated[Catalog, Depends(_catalog)]
DataSettingsDep = Annotated[DataSettings, Depends(_data_settings)]
CodecDep = Annotated[CursorCodec, Depends(_cursor_codec)]
GuardsDep = Annotated[Guards, Depends(_guards)]
