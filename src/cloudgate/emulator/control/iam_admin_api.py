"""The IAM API's service accounts and keys, as gcloud calls them, under ``/iam`` (``api_endpoint_overrides/iam``).

- ``GET|POST /v1/projects/{project}/serviceAccounts``: list / create (``{"accountId", "serviceAccount"}``)
- ``GET|DELETE /v1/projects/{project}/serviceAccounts/{email}``
- ``GET|POST /v1/projects/{project}/serviceAccounts/{email}/keys``: list / create. A created key's
  ``privateKeyData`` is a base64 key file whose ``token_uri`` is the emulator's token endpoint, so google-auth
  and gcloud use it against the emulator unchanged; only its public half is kept.
- ``DELETE /v1/projects/{project}/serviceAccounts/{email}/keys/{kid}``
- ``POST /v1/projects/{project}/serviceAccounts/{email}:getIamPolicy`` / ``:setIamPolicy`` (token creator).

``{project}`` may be ``-`` where an email names the account. Unknown accounts are ``404 NOT_FOUND``; an id
that exists is ``409 ALREADY_EXISTS``.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json, set_policy
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import Account, State
from cloudgate.emulator.identity import iam
from cloudgate.errors import EmulatorError

logger = logging.getLogger(__name__)

#: Google's user-managed keys never expire unless an organisation policy says so.
_NEVER = "9999-12-31T23:59:59Z"


def _account_json(state: State, email: str, account: Account) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "name": f"projects/{state.project_id}/serviceAccounts/{email}",
        "projectId": state.project_id,
        "uniqueId": account.unique_id,
        "email": email,
        "oauth2ClientId": account.unique_id,
        "etag": "MDEwMjE5MjA=",
    }
    if account.display_name:
        answer["displayName"] = account.display_name
    if account.description:
        answer["description"] = account.description
    if account.disabled:
        answer["disabled"] = True
    return answer


def _key_json(state: State, email: str, kid: str, account: Account) -> dict[str, Any]:
    return {
        "name": f"projects/{state.project_id}/serviceAccounts/{email}/keys/{kid}",
        "validAfterTime": account.key_created.get(kid, ""),
        "validBeforeTime": _NEVER,
        "keyAlgorithm": "KEY_ALG_RSA_2048",
        "keyOrigin": "GOOGLE_PROVIDED",
        "keyType": "USER_MANAGED",
    }


def _find(state: State, target: str) -> tuple[str, Account]:
    email = state.account_email(target)
    account = state.accounts.get(email)
    if account is None:
        raise ApiError(404, f"Unknown service account: projects/{state.project_id}/serviceAccounts/{email}")
    return email, account


def iam_admin_routes(ctx: EmulatorContext) -> list[Route]:
    """The IAM service-account routes (mounted under ``/iam``)."""

    def checked(request: Request, permission: str, resource: str) -> State:
        """``resource``: ``projects/P``, or an account (id or email), checked on its own policy and the project's."""
        member = caller(ctx, request)
        state = ctx.store.current()
        if not resource.startswith("projects/"):
            resource = f"projects/{state.project_id}/serviceAccounts/{state.account_email(resource)}"
        require(state, member, permission, resource)
        return state

    async def accounts(request: Request) -> Response:
        project = request.path_params["project"]
        if request.method == "GET":
            state = checked(request, "iam.serviceAccounts.list", f"projects/{project}")
            listed = [_account_json(state, e, a) for e, a in sorted(state.accounts.items())]
            return JSONResponse({"accounts": listed} if listed else {})
        body = await read_json(request)
        state = checked(request, "iam.serviceAccounts.create", f"projects/{project}")
        account_id = body.get("accountId")
        details = body.get("serviceAccount") or {}
        if not isinstance(account_id, str) or not isinstance(details, dict):
            raise ApiError(400, "accountId is required.")
        email = state.account_email(account_id)
        if email in state.accounts:
            raise ApiError(409, f"Service account {account_id} already exists within project projects/{project}.")
        try:
            iam.create_account(ctx.store, account_id, display_name=str(details.get("displayName", "")))
        except EmulatorError as exc:
            raise ApiError(400, str(exc)) from exc
        with ctx.store.edit() as current:
            current.accounts[email].description = str(details.get("description", ""))
            answer = _account_json(current, email, current.accounts[email])
        logger.info("service account %s created", email)
        return JSONResponse(answer)

    async def account(request: Request) -> Response:
        target: str = request.path_params["target"]
        head, _, method = target.partition(":")
        email_part, _, sub = head.partition("/")
        if method:
            return await _policy(request, email_part, method)
        if sub == "keys" or sub.startswith("keys/"):
            return await _keys(request, email_part, sub.removeprefix("keys").strip("/"))
        if sub:
            raise ApiError(404, f"Unknown path {sub!r}.")
        if request.method == "GET":
            state = checked(request, "iam.serviceAccounts.get", target)
            email, record = _find(state, email_part)
            return JSONResponse(_account_json(state, email, record))
        if request.method == "DELETE":
            state = checked(request, "iam.serviceAccounts.delete", target)
            email, _ = _find(state, email_part)
            iam.delete_account(ctx.store, email)
            logger.info("service account %s deleted", email)
            return JSONResponse({})
        raise ApiError(404, f"Method {request.method} is not supported here.")

    async def _keys(request: Request, target: str, kid: str) -> Response:
        if request.method == "GET" and not kid:
            state = checked(request, "iam.serviceAccountKeys.list", target)
            email, record = _find(state, target)
            keys = [_key_json(state, email, k, record) for k in record.keys]
            return JSONResponse({"keys": keys} if keys else {})
        if request.method == "POST" and not kid:
            body = await read_json(request)
            state = checked(request, "iam.serviceAccountKeys.create", target)
            email, _ = _find(state, target)
            if body.get("privateKeyType", "TYPE_GOOGLE_CREDENTIALS_FILE") != "TYPE_GOOGLE_CREDENTIALS_FILE":
                raise ApiError(400, "The emulator makes JSON key files only (TYPE_GOOGLE_CREDENTIALS_FILE).")
            key_file = iam.create_key(ctx.store, email, token_uri=ctx.token_url)
            current = ctx.store.current()
            kid = key_file["private_key_id"]
            answer = _key_json(current, email, kid, current.accounts[email])
            answer["privateKeyType"] = "TYPE_GOOGLE_CREDENTIALS_FILE"
            answer["privateKeyData"] = base64.b64encode(json.dumps(key_file, indent=2).encode()).decode()
            logger.info("key %s created for %s", kid, email)
            return JSONResponse(answer)
        if request.method == "GET":
            state = checked(request, "iam.serviceAccountKeys.get", target)
            email, record = _find(state, target)
            if kid not in record.keys:
                raise ApiError(404, f"Service account key {kid} does not exist.")
            return JSONResponse(_key_json(state, email, kid, record))
        if request.method == "DELETE":
            state = checked(request, "iam.serviceAccountKeys.delete", target)
            email, record = _find(state, target)
            if kid not in record.keys:
                raise ApiError(404, f"Service account key {kid} does not exist.")
            iam.delete_key(ctx.store, email, kid)
            logger.info("key %s of %s deleted", kid, email)
            return JSONResponse({})
        raise ApiError(404, f"Method {request.method} is not supported here.")

    async def _policy(request: Request, target: str, method: str) -> Response:
        if method not in ("getIamPolicy", "setIamPolicy"):
            raise ApiError(404, f"Method {method!r} is not supported by the emulator.")
        body = await read_json(request)
        state = checked(request, f"iam.serviceAccounts.{method}", target)
        email, _ = _find(state, target)
        resource = f"accounts/{email}"
        if method == "getIamPolicy":
            return JSONResponse(policy_json(state, resource, state.account_bindings.get(email, {})))
        with ctx.store.edit() as current:
            bindings = current.account_bindings.setdefault(email, {})
            set_policy(current, resource, bindings, body.get("policy"))
            answer = policy_json(current, resource, bindings)
        logger.info("IAM policy of service account %s set", email)
        return JSONResponse(answer)

    return [
        Route("/v1/projects/{project}/serviceAccounts", accounts, methods=["GET", "POST"]),
        Route("/v1/projects/{project}/serviceAccounts/{target:path}", account, methods=["GET", "POST", "DELETE"]),
    ]
