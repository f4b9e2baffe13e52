"""Google's client libraries, unmodified, against the emulator: gRPC (their default transport) and REST.

Each call runs in a fresh Python process with only the environment ``cloudgate emulator gcloud-env`` prints
(``HTTPS_PROXY``, ``grpc_proxy``, the CA variables) and ``GOOGLE_APPLICATION_CREDENTIALS``: gRPC's C core reads
its proxy and trust roots once per process, and user code gets nothing else. The secret is made by the real
gcloud, the service by ``gcloud run deploy``; the libraries reach ``secretmanager.googleapis.com`` and
``run.googleapis.com`` through the emulator's HTTPS proxy and gRPC gateway, and nothing reaches Google.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.gcloud_stack import GcloudStack
from tests.support import clean_env

pytestmark = pytest.mark.e2e

SECRET = "api-token"
PAYLOAD = "s3cr3t-value"
SERVICE = "listed"
_PROXY_ENV = (
    "HTTPS_PROXY",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "grpc_proxy",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
)

_ACCESS = """
import sys
from google.api_core import exceptions
from google.cloud import secretmanager
client = secretmanager.SecretManagerServiceClient(transport=sys.argv[1])
try:
    answer = client.access_secret_version(name=sys.argv[2])
except exceptions.GoogleAPICallError as exc:
    print(type(exc).__name__, exc.grpc_status_code.name if exc.grpc_status_code else None, exc.message)
else:
    print("payload", answer.payload.data.decode())
"""

_SERVICES = """
import json, sys
from google.cloud import run_v2
client = run_v2.ServicesClient(transport=sys.argv[1])
listed = [s.name for s in client.list_services(parent=sys.argv[2])]
got = client.get_service(name=sys.argv[3])
print(json.dumps({"listed": listed, "name": got.name, "uri": got.uri, "image": got.template.containers[0].image,
                  "ready": got.terminal_condition.state.name}))
"""


def _user_code(stack: GcloudStack, key: Path, script: str, *args: str) -> str:
    """``script`` in a new process with the printed proxy environment and ``key`` as ADC; its stdout."""
    env = clean_env(
        **{name: stack.env[name] for name in _PROXY_ENV}, GOOGLE_APPLICATION_CREDENTIALS=str(key)
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("library-keys")


@pytest.fixture(scope="module")
def secret_version(gcloud_stack: GcloudStack) -> str:
    """A secret with one version, made by the real gcloud: its version's resource name."""
    gcloud_stack.gcloud("secrets", "create", SECRET, "--data-file=-", stdin=PAYLOAD)
    return f"projects/{gcloud_stack.project}/secrets/{SECRET}/versions/1"


@pytest.fixture(scope="module")
def accessor(gcloud_stack: GcloudStack, secret_version: str, keys: Path) -> Path:
    """A service account holding ``roles/secretmanager.secretAccessor`` on the secret: its key file."""
    email, key = gcloud_stack.account("reader", keys)
    gcloud_stack.gcloud(
        "secrets", "add-iam-policy-binding", SECRET,
        f"--member=serviceAccount:{email}", "--role=roles/secretmanager.secretAccessor",
    )  # fmt: skip
    return key


def test_secret_manager_over_grpc_reads_a_secret_the_emulator_holds(
    gcloud_stack: GcloudStack, secret_version: str, accessor: Path
) -> None:
    """The library's default transport (gRPC) through grpc_proxy, the emulator's CA and its gRPC gateway."""
    assert _user_code(gcloud_stack, accessor, _ACCESS, "grpc", secret_version) == f"payload {PAYLOAD}"


def test_secret_manager_over_grpc_without_access_is_permission_denied(
    gcloud_stack: GcloudStack, secret_version: str, keys: Path
) -> None:
    """An account without ``secretmanager.versions.access`` gets gRPC's PERMISSION_DENIED with Google's words."""
    _, key = gcloud_stack.account("stranger", keys)
    printed = _user_code(gcloud_stack, key, _ACCESS, "grpc", secret_version)
    assert printed.startswith("PermissionDenied PERMISSION_DENIED Permission 'secretmanager.versions.access' denied")


def test_secret_manager_over_rest_reads_a_secret_the_emulator_holds(
    gcloud_stack: GcloudStack, secret_version: str, accessor: Path
) -> None:
    """``transport="rest"``: HTTP/1.1 JSON through HTTPS_PROXY and the emulator's CA."""
    assert _user_code(gcloud_stack, accessor, _ACCESS, "rest", secret_version) == f"payload {PAYLOAD}"


def test_cloud_run_services_client_lists_and_gets_a_gcloud_deployed_service(
    gcloud_stack: GcloudStack, keys: Path
) -> None:
    """google-cloud-run's ``ServicesClient`` (Admin API v2, gRPC) sees the service ``gcloud run deploy`` made."""
    url = gcloud_stack.deploy(SERVICE, "--no-allow-unauthenticated")
    email, key = gcloud_stack.account("run-viewer", keys)
    gcloud_stack.gcloud(
        "projects", "add-iam-policy-binding", gcloud_stack.project,
        f"--member=serviceAccount:{email}", "--role=roles/run.viewer",
    )  # fmt: skip
    parent = f"projects/{gcloud_stack.project}/locations/us-central1"
    name = f"{parent}/services/{SERVICE}"
    answer = json.loads(_user_code(gcloud_stack, key, _SERVICES, "grpc", parent, name))
    assert answer == {
        "listed": [name],
        "name": name,
        "uri": url,
        "image": "cloudgate/local-command",
        "ready": "CONDITION_SUCCEEDED",
    }
