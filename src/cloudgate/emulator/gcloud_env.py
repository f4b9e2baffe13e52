"""The environment that points the real gcloud at a running emulator, with a throwaway config folder.

gcloud derives Cloud Run's regional host from ``api_endpoint_overrides/run`` by prefixing the region
(``http://us-central1-127.0.0.1:8089/run/``), a name that does not resolve. So the emulator is also gcloud's
HTTP proxy: gcloud then sends every request to it in absolute form, and the emulator serves each API under its
own path prefix (``/run``, ``/iam``, ``/iamcredentials``, ``/secretmanager``, ``/cloudresourcemanager``, ``/iap``; tokens at
``/token``). Everything is a ``CLOUDSDK_SECTION_PROPERTY`` environment variable plus ``CLOUDSDK_CONFIG``, so the
machine's own gcloud configuration is never read or changed. Two ``CLOUDGATE_*`` variables point cloudgate's own
client at the emulator's IAM Credentials and Security Token Service (a ``create-cred-config`` file names Google's).

The credentials are a key of the emulator's ``deployer`` service account (``roles/owner`` on the emulated
project), made by ``POST /admin/gcloud-credentials`` and used through ``auth/credential_file_override``: no
``gcloud auth`` step is needed.

With the emulator's HTTPS proxy (``tls_proxy.py``) running, the environment also names it and the emulator's CA
(``proxy_environment``), so google-auth and Google's client libraries that call ``https://*.googleapis.com``
themselves reach the emulator too, unmodified.

Example (what ``cloudgate emulator gcloud-env`` prints)::

    env = gcloud_environment("http://127.0.0.1:8089", Path("/tmp/cfg"), Path("/tmp/cfg/key.json"), "cloudgate-local")
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: The APIs gcloud is redirected for, each served by the emulator under ``/<api>/``.
EMULATED_APIS = ("run", "iam", "iamcredentials", "secretmanager", "cloudresourcemanager", "iap")
DEFAULT_REGION = "us-central1"
KEY_FILE_NAME = "emulator-deployer-key.json"


def gcloud_environment(
    emulator_url: str,
    config_dir: Path,
    key_file: Path,
    project: str,
    *,
    region: str = DEFAULT_REGION,
    https_proxy: str | None = None,
    ca_file: Path | None = None,
) -> dict[str, str]:
    """``CLOUDSDK_*`` variables that make gcloud use the emulator at ``emulator_url`` and nothing else."""
    base = emulator_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"the emulator URL must be http://HOST:PORT, not {emulator_url!r}")
    env = {
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_PROJECT": project,
        "CLOUDSDK_RUN_REGION": region,
        "CLOUDSDK_PROXY_TYPE": "http",
        "CLOUDSDK_PROXY_ADDRESS": parts.hostname,
        "CLOUDSDK_PROXY_PORT": str(parts.port),
        "CLOUDSDK_AUTH_TOKEN_HOST": f"{base}/token",
        "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(key_file),
        "CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API": "false",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    }
    for api in EMULATED_APIS:
        env[f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}"] = f"{base}/{api}/"
    # cloudgate's own client: impersonation and Workload Identity Federation configs reach the emulator too.
    env["CLOUDGATE_IAM_ENDPOINT"] = f"{base}/iamcredentials"
    env["CLOUDGATE_STS_ENDPOINT"] = f"{base}/sts"
    if https_proxy is not None and ca_file is not None:
        env.update(proxy_environment(https_proxy, ca_file))
    return env


def proxy_environment(https_proxy: str, ca_file: Path) -> dict[str, str]:
    """What sends Google's client libraries to the emulator's HTTPS proxy (``tls_proxy.py``) trusting its CA:
    ``requests`` (google-auth) reads ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``, Python's ``ssl`` and most other
    clients ``SSL_CERT_FILE``, gcloud ``core/custom_ca_certs_file``; gRPC's C core (the ``google-cloud-*``
    libraries' default transport) reads ``grpc_proxy`` (lowercase: it ignores ``HTTPS_PROXY``) and
    ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``. Only ``https://`` URLs and gRPC channels go through it."""
    return {
        "HTTPS_PROXY": https_proxy,
        "REQUESTS_CA_BUNDLE": str(ca_file),
        "SSL_CERT_FILE": str(ca_file),
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": str(ca_file),
        "grpc_proxy": https_proxy,
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca_file),
    }


def prepare_config(config_dir: Path, key: dict[str, Any]) -> Path:
    """Write the deployer key (0600) and gcloud's "not on GCE" cache into ``config_dir``; returns the key path."""
    config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # gcloud caches "am I on Google Compute Engine?" in this file; False skips the metadata-server probe.
    (config_dir / "gce").write_text("False", encoding="utf-8")
    path = config_dir / KEY_FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(key, handle, indent=2)
    return path


def export_lines(env: dict[str, str]) -> str:
    """``export NAME=value`` lines, quoted for any POSIX shell."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
