"""A gRPC gateway: Google's client libraries that speak gRPC reach the emulator's REST handlers, unmodified.

Most ``google-cloud-*`` libraries call Google over gRPC by default (HTTP/2, protobuf). The emulator serves each
API once, as REST (``control/*_api.py``). When the HTTPS proxy (``tls_proxy.py``) negotiates ALPN ``h2`` after a
``CONNECT``, it hands the connection to this gateway, a plain grpcio server on a loopback port. Each call
``/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion`` is made again as the REST call
Google's own ``google.api.http`` rule gives, on the emulator's Google port, with the caller's ``authorization``;
the JSON answer goes back as the response message, an error as the gRPC status Google would send
(``403`` -> ``PERMISSION_DENIED``, with the same message).

The transcoding is not ours: it is the client library's own REST transport (``transports/rest.py`` of the
generated library, which applies the method's ``google.api.http`` rule with google-api-core's
``path_template.transcode`` and parses the answer with ``json_format``). This module only picks the transport's
method for a gRPC method name (``AccessSecretVersion`` -> ``access_secret_version``; its request type is that
method's annotated parameter) and passes bytes, the token and errors across. Written here because no maintained
Python gRPC-to-REST transcoder exists: grpc-gateway (Go) and Envoy's ``grpc_json_transcoder`` go the other way,
REST to gRPC. The emulator keeps ONE implementation of each API.

APIs served (``APIS``): Secret Manager v1 and Cloud Run v2 ``Services``. A method of another service, or a mixin
(``google.longrunning.Operations``, ``google.cloud.location.Locations``), answers ``UNIMPLEMENTED``.

Example::

    gateway = GrpcGateway("http://127.0.0.1:8089")
    port = gateway.start()        # plain h2 (h2c) on 127.0.0.1:port; tls_proxy.py splices h2 tunnels to it
    ...
    gateway.stop()
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import proto
import requests
from google.api_core import exceptions as core_exceptions
from google.auth.credentials import AnonymousCredentials

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Api:
    """One gRPC service: where its REST API lives on the emulator and which library transport transcodes it."""

    prefix: str
    module: str
    transport: str


#: gRPC service name -> the emulator's REST prefix and the client library's REST transport.
APIS = {
    "google.cloud.secretmanager.v1.SecretManagerService": Api(
        "/secretmanager",
        "google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest",
        "SecretManagerServiceRestTransport",
    ),
    "google.cloud.run.v2.Services": Api(
        "/run", "google.cloud.run_v2.services.services.transports.rest", "ServicesRestTransport"
    ),
}
#: Only these of the caller's metadata are passed on (its token; the quota project Google bills).
_FORWARDED = frozenset({"authorization", "x-goog-user-project"})
_MAX_MESSAGE = 8 * 1024 * 1024  # as the HTTPS proxy's body limit
_WORKERS = 8
_MAX_CALLS = 64  # beyond these at once, gRPC answers RESOURCE_EXHAUSTED rather than queueing without bound
_TIMEOUT_S = 60.0
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class _Method:
    call: Callable[..., Any]
    request_type: Any


def _snake(method: str) -> str:
    return _CAMEL.sub("_", method).lower()


class _Handler(grpc.GenericRpcHandler):
    """Finds the library transport's method for each call; ``None`` (``UNIMPLEMENTED``) for any other."""

    def __init__(self, emulator_url: str) -> None:
        self._base = emulator_url.rstrip("/")
        self._transports: dict[str, Any] = {}

    def _transport(self, service: str, api: Api) -> Any:
        if service not in self._transports:
            module = importlib.import_module(api.module)
            host = self._base.removeprefix("http://") + api.prefix
            factory = getattr(module, api.transport)
            transport = factory(host=host, credentials=AnonymousCredentials(), url_scheme="http")  # type: ignore[no-untyped-call]
            # The caller's own token goes along as is (no credentials of ours to add or refresh), to the
            # emulator's own port: never through a proxy named in the environment.
            session = requests.Session()
            session.trust_env = False
            transport._session = session
            self._transports[service] = transport
        return self._transports[service]

    def _method(self, full_name: str) -> _Method | None:
        service, _, method = full_name.lstrip("/").rpartition("/")
        api = APIS.get(service)
        if api is None or not method.isidentifier():
            return None
        transport = self._transport(service, api)
        stub_class = getattr(type(transport), f"_{method}", None)
        if stub_class is None or not hasattr(transport, _snake(method)):
            return None
        request_type = stub_class.__call__.__annotations__.get("request")
        if not isinstance(request_type, type):
            return None
        return _Method(call=getattr(transport, _snake(method)), request_type=request_type)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        found = self._method(str(handler_call_details.method))
        if found is None:
            logger.warning("gRPC call %s: not an API the emulator serves", handler_call_details.method)
            return None
        request_type = found.request_type
        proto_plus = issubclass(request_type, proto.Message)
        deserialize = request_type.deserialize if proto_plus else request_type.FromString

        def answer(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = [(k, v) for k, v in context.invocation_metadata() if k in _FORWARDED]
            try:
                return found.call(request, metadata=metadata, timeout=_TIMEOUT_S)
            except core_exceptions.GoogleAPICallError as exc:
                context.abort(*_status(exc))
            except requests.RequestException as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"the emulator did not answer: {type(exc).__name__}")
            except ValueError as exc:  # no google.api.http rule fits the request (a required field left empty)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("context.abort raises")  # pragma: no cover

        return grpc.unary_unary_rpc_method_handler(
            answer, request_deserializer=deserialize, response_serializer=_serialize
        )


def _serialize(message: Any) -> bytes:
    if isinstance(message, proto.Message):
        return bytes(type(message).serialize(message))
    return bytes(message.SerializeToString())


def _status(exc: core_exceptions.GoogleAPICallError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and message of a REST error: Google's ``{"error": {"status", "message"}}`` names the
    canonical code (``UNAUTHENTICATED`` for a 401, which google-api-core maps to no gRPC code), and its message
    is what a gRPC caller reads (google-api-core prefixes it with the emulator's URL)."""
    code, message = exc.grpc_status_code or grpc.StatusCode.UNKNOWN, str(exc.message)
    if isinstance(exc.response, requests.Response):
        try:
            error = json.loads(exc.response.content)["error"]
            code, message = grpc.StatusCode[str(error.get("status", code.name))], str(error["message"])
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return code, message


class GrpcGateway:
    """A grpcio server on a loopback port that serves ``APIS`` from the emulator at ``emulator_url``."""

    def __init__(self, emulator_url: str) -> None:
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="grpc-gateway"),
            handlers=[_Handler(emulator_url)],
            maximum_concurrent_rpcs=_MAX_CALLS,
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ],
        )

    def start(self) -> int:
        """Listen on a free loopback port (plain HTTP/2: the HTTPS proxy terminated TLS); returns it."""
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return port

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop taking calls; those in flight get ``grace`` seconds (this returns at once)."""
        self._server.stop(grace)
