"""Resource Manager's project reads, under ``/cloudresourcemanager`` (``api_endpoint_overrides/cloudresourcemanager``).

- ``GET /v1/projects/{project}``: id, number, ``ACTIVE``
- ``POST /v1/projects/{project}:getIamPolicy``: the project's bindings (``State.project_bindings``), so a tool
  can see project-level roles. The emulator does not let the API change them: use
  ``cloudgate emulator project grant`` (``setIamPolicy`` answers ``501 UNIMPLEMENTED``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import State


def _own(state: State, project: str) -> None:
    if project not in (state.project_id, state.project_number):
        raise ApiError(403, f"The caller does not have permission (project {project} is not the emulator's).")


def project_routes(ctx: EmulatorContext) -> list[Route]:
    """The Resource Manager routes (mounted under ``/cloudresourcemanager``)."""

    async def project(request: Request) -> Response:
        target: str = request.path_params["target"]
        name, _, method = target.partition(":")
        member = caller(ctx, request)
        state = ctx.store.current()
        _own(state, name)
        if not method and request.method == "GET":
            require(state, member, "resourcemanager.projects.get", f"projects/{name}")
            return JSONResponse(
                {
                    "projectNumber": state.project_number,
                    "projectId": state.project_id,
                    "lifecycleState": "ACTIVE",
                    "name": state.project_id,
                }
            )
        if method == "getIamPolicy" and request.method == "POST":
            await read_json(request)
            require(state, member, "resourcemanager.projects.getIamPolicy", f"projects/{name}")
            return JSONResponse(policy_json(state, "project", state.project_bindings))
        if method == "setIamPolicy":
            raise ApiError(
                501, "The emulator's project policy is read-only here: use `cloudgate emulator project grant`."
            )
        raise ApiError(404, f"Method {method or request.method!r} is not supported by the emulator.")

    return [Route("/v1/projects/{target}", project, methods=["GET", "POST"])]
