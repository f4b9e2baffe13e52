"""The route requirements are typed objects, and the OpenAPI hook documents them from the schema FastAPI writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from cloudgate.errors import ConfigError
from cloudgate.service import (
    GoogleCaller,
    GoogleRequirement,
    KeyAndGoogleRequirement,
    KeyRequirement,
    Principal,
    ServiceSettings,
    protect,
    require,
    require_key,
)
from cloudgate.service.openapi import declared_scopes


def _app(tmp_path: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/both")
    async def both(caller: Annotated[Principal, Depends(require("both:read", key=True, google=True))]) -> None:
        return None

    @app.get("/google")
    async def google(caller: GoogleCaller) -> None:
        return None

    @app.post("/write")
    async def write(caller: Annotated[Principal, Depends(require_key("things:write"))]) -> None:
        return None

    return protect(app, ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off"))


def test_each_requirement_is_a_typed_object_carrying_what_it_needs() -> None:
    key, google, both = require_key("a:read"), require(google=True, key=False), require("b:write", google=True)
    assert isinstance(key, KeyRequirement) and (key.key, key.google, key.scope) == (True, False, "a:read")
    assert isinstance(google, GoogleRequirement) and (google.key, google.google) == (False, True)
    assert isinstance(both, KeyAndGoogleRequirement) and (both.key, both.google, both.scope) == (True, True, "b:write")


@pytest.mark.parametrize("kwargs", [{"key": False}, {"key": False, "google": True, "scope": "x:read"}])
def test_a_requirement_that_asks_for_nothing_or_a_scope_without_a_key_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        require(**kwargs)  # type: ignore[arg-type]


def test_a_route_needing_key_and_identity_gets_one_anded_requirement(tmp_path: Path) -> None:
    schema = _app(tmp_path).openapi()
    assert schema["paths"]["/both"]["get"]["security"] == [{"ApiKeyAuth": [], "GoogleIdToken": []}]
    assert schema["paths"]["/google"]["get"]["security"] == [{"GoogleIdToken": []}]


def test_no_placeholder_scheme_is_left_in_the_schema(tmp_path: Path) -> None:
    schema = _app(tmp_path).openapi()
    assert set(schema["components"]["securitySchemes"]) == {"ApiKeyAuth", "GoogleIdToken"}
    assert "cloudgate:" not in json.dumps(schema)


def test_the_scopes_an_app_declares_are_read_from_its_routes(tmp_path: Path) -> None:
    assert declared_scopes(_app(tmp_path)) == {"both:read", "things:write"}


def test_every_error_answer_an_app_documents_gets_the_common_error_body(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/items/{name}", responses={404: {"description": "No such item."}})
    async def item(name: str, caller: Annotated[Principal, Depends(require_key())]) -> None:
        return None

    schema = protect(app, ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off")).openapi()
    responses = schema["paths"]["/items/{name}"]["get"]["responses"]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/CloudgateError"}}}
    assert responses["404"] == {"description": "No such item.", "content": error}
    # What the middleware and the credential checks answer before the route runs.
    for status in ("400", "401", "403", "413", "431", "503"):
        assert responses[status]["content"] == error, status


@pytest.mark.anyio
async def test_a_405_allows_every_method_of_the_path(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/items/{name}")
    async def read(name: str) -> None:
        return None

    @app.delete("/items/{name}")
    async def remove(name: str) -> None:
        return None

    protected = protect(app, ServiceSettings(keystore=f"sqlite:///{tmp_path / 'k.db'}", identity="off"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=protected), base_url="http://t") as client:
        response = await client.put("/items/x")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, DELETE"
    assert response.json()["error"] == "method_not_allowed"
