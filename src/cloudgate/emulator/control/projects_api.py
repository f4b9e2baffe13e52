"""Resource Manager's project and its IAM policy, under ``/cloudresourcemanager``
(``api_endpoint_overrides/cloudresourcemanager``).

- ``GET /v1/projects/{project}``: id, number, ``ACTIVE``
- ``POST /v1/projects/{project}:getIamPolicy``: the project's bindings (``State.project_bindings``)
- ``POST /v1/projects/{project}:setIamPolicy``: replaces them (``resourcemanager.projects.setIamPolicy``: Owner,
  Project IAM Admin), with etags as every policy (``policies.py``): what
  ``gcloud projects add-iam-policy-binding``/``remove-iam-policy-binding`` do.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json, set_policy
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import State

logger = logging.getLogger(__name__)


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
        if method == "setIamPolicy" and request.method == "POST":
            body = await read_json(request)
            require(state, member, "resourcemanager.projects.setIamPolicy", f"projects/{name}")
            with ctx.store.edit() as current:
                set_policy(current, "project", current.project_bindings, body.get("policy"))
                answer = policy_json(current, "project", current.project_bindings)
            logger.info("IAM policy of project %s set by %s", name, member)
            return JSONResponse(answer)
        raise ApiError(404, f"Method {method or request.method!r} is not supported by the emulator.")

    return [Route("/v1/projects/{target}", project, methods=["GET", "POST"])]
