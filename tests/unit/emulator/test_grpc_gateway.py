"""The gRPC gateway answers only the APIs it transcodes; the rest is ``UNIMPLEMENTED``, as a server without them.

Calls it serves (Secret Manager, Cloud Run v2 over the libraries' own REST transports) are tested end to end with
the real libraries against a real emulator: ``tests/e2e/test_emulator_client_libraries.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from cloudgate.emulator.grpc_gateway import APIS, GrpcGateway
from cloudgate.emulator.tls_proxy import GRPC_HOSTS


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    gateway = GrpcGateway("http://127.0.0.1:9")  # never reached: nothing it serves is called
    port = gateway.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)]) as opened:
        yield opened
    gateway.stop(None)


@pytest.mark.parametrize(
    "method",
    [
        "/google.firestore.v1.Firestore/GetDocument",
        "/google.longrunning.Operations/GetOperation",
        "/google.cloud.secretmanager.v1.SecretManagerService/NoSuchMethod",
    ],
    ids=["another-api", "a-mixin", "an-unknown-method"],
)
def test_a_method_the_gateway_does_not_serve_is_unimplemented(channel: grpc.Channel, method: str) -> None:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", timeout=30)
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_the_proxy_offers_h2_on_the_hosts_of_the_apis_the_gateway_serves() -> None:
    """tls_proxy.GRPC_HOSTS (which offer ALPN h2) name exactly the hosts of grpc_gateway.APIS."""
    hosts = {api.prefix.strip("/") + ".googleapis.com" for api in APIS.values()}
    assert hosts == GRPC_HOSTS


def test_a_request_no_http_rule_fits_is_invalid_argument(channel: grpc.Channel) -> None:
    """An AccessSecretVersion without a name matches no ``google.api.http`` path: INVALID_ARGUMENT, no REST call."""
    method = "/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion"
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
