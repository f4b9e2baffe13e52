"""Secret Manager as gcloud calls it, under ``/secretmanager`` (``api_endpoint_overrides/secretmanager``).

- ``GET /v1/projects/{p}/secrets``, ``POST /v1/projects/{p}/secrets?secretId=ID``
- ``GET|DELETE /v1/projects/{p}/secrets/{id}``, ``POST .../{id}:addVersion`` (``payload.data`` base64, with
  ``dataCrc32c`` checked when given), ``:getIamPolicy``, ``:setIamPolicy``
- ``GET .../{id}/versions``, ``GET .../versions/{v}``, ``GET .../versions/{v}:access`` (``latest`` = highest
  enabled), ``POST .../versions/{v}:enable`` / ``:disable`` / ``:destroy``

Reading a payload needs ``roles/secretmanager.secretAccessor`` (on the secret or the project) or an admin role.
Every change to a secret's versions rewrites the files mounted into running revisions.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudgate.emulator.control.api_errors import caller, read_json
from cloudgate.emulator.control.policies import policy_json, set_policy
from cloudgate.emulator.core import secret_store
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.permissions import require
from cloudgate.emulator.core.state import Secret, State

logger = logging.getLogger(__name__)


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager exchanges as ``dataCrc32c``."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _secret_json(state: State, secret_id: str, secret: Secret) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "name": f"projects/{state.project_number}/secrets/{secret_id}",
        "replication": {"automatic": {}},
        "createTime": secret.create_time,
        "etag": f'"{state.etags.get("secrets/" + secret_id, "ACAB")}"',
    }
    if secret.labels:
        answer["labels"] = secret.labels
    return answer


def _version_json(state: State, secret_id: str, number: str, secret: Secret) -> dict[str, Any]:
    version = secret.versions[number]
    return {
        "name": f"projects/{state.project_number}/secrets/{secret_id}/versions/{number}",
        "createTime": version.create_time,
        "state": version.state,
        "replicationStatus": {"automatic": {}},
        "clientSpecifiedPayloadChecksum": True,
    }


def secret_routes(ctx: EmulatorContext) -> list[Route]:
    """The Secret Manager routes (mounted under ``/secretmanager``)."""

    def checked(request: Request, permission: str, secret_id: str = "") -> State:
        member = caller(ctx, request)
        state = ctx.store.current()
        project = request.path_params["project"]
        if project not in (state.project_id, state.project_number):
            raise ApiError(403, f"Permission '{permission}' denied on resource 'projects/{project}'.")
        resource = f"projects/{state.project_number}/secrets/{secret_id}" if secret_id else f"projects/{project}"
        require(state, member, permission, resource)
        return state

    def changed(secret_id: str) -> None:
        if ctx.runtime is not None:
            ctx.runtime.secret_changed(secret_id)

    async def secrets(request: Request) -> Response:
        if request.method == "GET":
            state = checked(request, "secretmanager.secrets.list")
            listed = [_secret_json(state, k, v) for k, v in sorted(state.secrets.items())]
            return JSONResponse({"secrets": listed, "totalSize": len(listed)} if listed else {})
        body = await read_json(request)
        secret_id = request.query_params.get("secretId", "")
        checked(request, "secretmanager.secrets.create")
        labels = body.get("labels") or {}
        if not isinstance(labels, dict):
            raise ApiError(400, "labels must be an object.")
        secret = secret_store.create_secret(ctx.store, secret_id, {str(k): str(v) for k, v in labels.items()})
        logger.info("secret %s created", secret_id)
        return JSONResponse(_secret_json(ctx.store.current(), secret_id, secret))

    async def secret(request: Request) -> Response:
        target: str = request.path_params["target"]
        head, _, method = target.partition(":")
        secret_id, _, rest = head.partition("/versions")
        secret_store.check_id(secret_id)
        if rest or head.endswith("/versions"):
            return await _versions(request, secret_id, rest.strip("/"), method)
        if method == "addVersion":
            body = await read_json(request)
            checked(request, "secretmanager.versions.add", secret_id)
            payload = _payload(body)
            number = secret_store.add_version(ctx.store, secret_id, payload)
            changed(secret_id)
            state = ctx.store.current()
            logger.info("secret %s: version %s added", secret_id, number)
            return JSONResponse(_version_json(state, secret_id, number, state.secrets[secret_id]))
        if method in ("getIamPolicy", "setIamPolicy"):
            body = await read_json(request) if request.method == "POST" else {}
            state = checked(request, f"secretmanager.secrets.{method}", secret_id)
            _existing(state, secret_id)
            resource = f"secrets/{secret_id}"
            if method == "getIamPolicy":
                return JSONResponse(policy_json(state, resource, state.secrets[secret_id].bindings))
            with ctx.store.edit() as current:
                bindings = current.secrets[secret_id].bindings
                set_policy(current, resource, bindings, body.get("policy"))
                return JSONResponse(policy_json(current, resource, bindings))
        if method:
            raise ApiError(404, f"Method {method!r} is not supported by the emulator.")
        if request.method == "GET":
            state = checked(request, "secretmanager.secrets.get", secret_id)
            return JSONResponse(_secret_json(state, secret_id, _existing(state, secret_id)))
        if request.method == "DELETE":
            checked(request, "secretmanager.secrets.delete", secret_id)
            secret_store.delete_secret(ctx.store, secret_id)
            logger.info("secret %s deleted", secret_id)
            return JSONResponse({})
        raise ApiError(404, f"Method {request.method} is not supported here.")

    async def _versions(request: Request, secret_id: str, version: str, method: str) -> Response:
        if not version:
            state = checked(request, "secretmanager.versions.list", secret_id)
            record = _existing(state, secret_id)
            numbers = sorted(record.versions, key=int, reverse=True)
            listed = [_version_json(state, secret_id, n, record) for n in numbers]
            return JSONResponse({"versions": listed, "totalSize": len(listed)} if listed else {})
        if method == "access":
            state = checked(request, "secretmanager.versions.access", secret_id)
            number, payload = secret_store.access(ctx.store, secret_id, version)
            name = f"projects/{state.project_number}/secrets/{secret_id}/versions/{number}"
            data = {"data": base64.b64encode(payload).decode(), "dataCrc32c": str(crc32c(payload))}
            return JSONResponse({"name": name, "payload": data})
        states = {"enable": "ENABLED", "disable": "DISABLED", "destroy": "DESTROYED"}
        if method in states and request.method == "POST":
            await read_json(request)
            state = checked(request, f"secretmanager.versions.{method}", secret_id)
            number = secret_store.resolve(state.secrets.get(secret_id), secret_id, version, state.project_number)
            secret_store.set_version_state(ctx.store, secret_id, number, states[method])
            changed(secret_id)
            current = ctx.store.current()
            logger.info("secret %s: version %s %sd", secret_id, number, method)
            return JSONResponse(_version_json(current, secret_id, number, current.secrets[secret_id]))
        if not method and request.method == "GET":
            state = checked(request, "secretmanager.versions.get", secret_id)
            record = _existing(state, secret_id)
            number = secret_store.resolve(record, secret_id, version, state.project_number)
            if number not in record.versions:
                raise ApiError(404, f"Secret Version [{number}] not found.")
            return JSONResponse(_version_json(state, secret_id, number, record))
        raise ApiError(404, f"Method {method or request.method!r} is not supported by the emulator.")

    return [
        Route("/v1/projects/{project}/secrets", secrets, methods=["GET", "POST"]),
        Route("/v1/projects/{project}/secrets/{target:path}", secret, methods=["GET", "POST", "DELETE"]),
    ]


def _existing(state: State, secret_id: str) -> Secret:
    secret = state.secrets.get(secret_id)
    if secret is None:
        raise ApiError(404, f"Secret [projects/{state.project_number}/secrets/{secret_id}] not found.")
    return secret


def _payload(body: dict[str, Any]) -> bytes:
    payload = body.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, str):
        raise ApiError(400, "payload.data is required.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "payload.data must be base64.") from exc
    given = payload.get("dataCrc32c") if isinstance(payload, dict) else None
    if given is not None and str(given) != str(crc32c(raw)):
        raise ApiError(400, "Checksum mismatch: payload.data_crc32c does not match the data.")
    return raw
