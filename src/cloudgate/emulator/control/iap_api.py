"""Identity-Aware Proxy's IAM API (``iap.googleapis.com`` v1), as ``gcloud beta iap web ... --resource-type=cloud-run``
calls it, under ``/iap`` on the emulator (``api_endpoint_overrides/iap``).

gcloud (``api_lib/iap/util.py`` ``CloudRun``) names a Cloud Run service's IAP resource
``projects/PROJECT_NUMBER/iap_web/cloud_run-REGION/services/SERVICE`` and calls:

- ``POST /v1/{resource}:getIamPolicy`` ``{"options": {"requestedPolicyVersion": 3}}`` (``get-iam-policy``, and the
  read of ``add-``/``remove-iam-policy-binding``); needs ``iap.webServiceVersions.getIamPolicy``;
- ``POST /v1/{resource}:setIamPolicy`` ``{"policy": {...}}`` with the etag it read; needs
  ``iap.webServiceVersions.setIamPolicy``. A stale etag: ``409 ABORTED``, as every policy of the emulator
  (``policies.py``); a role not grantable here (anything but IAP's roles and the basic ones):
  ``400 INVALID_ARGUMENT``.

This policy is IAP's, not the service's Cloud Run policy: ``gcloud run services get-iam-policy`` never shows it,
and the front end's IAP gate (``serving/iap_gate.py``) reads it for ``roles/iap.httpsResourceAccessor``
(inherited from the project's policy too, as on Google). The service must exist in that region (404 otherwise).
Other IAP resources (App Engine, backend services, a whole region's ``iap_web/cloud_run-REGION``) answer
``400 INVALID_ARGUMENT`` naming what the emulator supports.

Example (what gcloud sends)::

    POST /iap/v1/projects/123456789012/iap_web/cloud_run-us-central1/services/api:getIamPolicy
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
from cloudgate.emulator.core.permissions import iap_resource, require
from cloudgate.emulator.core.state import State, service_key

logger = logging.getLogger(__name__)

_CLOUD_RUN = "cloud_run-"
_UNSUPPORTED = (
    "The cloudgate emulator's IAP API serves Cloud Run services only: "
    "projects/PROJECT_NUMBER/iap_web/cloud_run-REGION/services/SERVICE (gcloud beta iap web ... "
    "--resource-type=cloud-run --service S --region R)."
)


def _service_key(state: State, project: str, web: str, name: str) -> str:
    """The state key of the Cloud Run service an IAP resource names; 400 for other kinds, 404 when missing."""
    if project not in (state.project_id, state.project_number):
        raise ApiError(403, f"Permission denied on resource project {project} (the emulator's is {state.project_id}).")
    if not web.startswith(_CLOUD_RUN) or not name:
        raise ApiError(400, _UNSUPPORTED)
    region = web.removeprefix(_CLOUD_RUN)
    key = service_key(region, name)
    service = state.services.get(key)
    if service is None or (service.region and service.region != region):
        raise ApiError(404, f"Cloud Run service '{name}' of region '{region}' was not found.", "NOT_FOUND")
    return key


def iap_routes(ctx: EmulatorContext) -> list[Route]:
    """The IAP IAM routes (mounted under ``/iap``)."""

    async def service_method(request: Request) -> Response:
        name, _, method = request.path_params["target"].partition(":")
        project, web = request.path_params["project"], request.path_params["web"]
        resource = f"projects/{project}/iap_web/{web}/services/{name}"
        body = await read_json(request)
        member = caller(ctx, request)
        state = ctx.store.current()
        key = _service_key(state, project, web, name)
        policy = iap_resource(key)
        if method == "getIamPolicy":
            require(state, member, "iap.webServiceVersions.getIamPolicy", resource)
            return JSONResponse(policy_json(state, policy, state.iap_bindings.get(key, {})))
        if method == "setIamPolicy":
            require(state, member, "iap.webServiceVersions.setIamPolicy", resource)
            with ctx.store.edit() as current:
                bindings = current.iap_bindings.setdefault(key, {})
                set_policy(current, policy, bindings, body.get("policy"))
                if not any(bindings.values()):
                    current.iap_bindings.pop(key, None)
                answer = policy_json(current, policy, current.iap_bindings.get(key, {}))
            logger.info("IAP policy of service %s set", key)
            return JSONResponse(answer)
        raise ApiError(404, f"Method '{method or request.method}' is not supported by the emulator.", "NOT_FOUND")

    async def other_resource(request: Request) -> Response:
        raise ApiError(400, _UNSUPPORTED)

    return [
        Route("/v1/projects/{project}/iap_web/{web}/services/{target}", service_method, methods=["POST"]),
        Route("/v1/{rest:path}", other_resource, methods=["GET", "POST"]),
    ]
