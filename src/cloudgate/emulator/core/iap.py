"""Identity-Aware Proxy on a Cloud Run service, Google's side: its service agent, its signing keys, its assertion.

- The IAP service agent ``service-PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com`` is one of Google's service
  agents: it exists in every project (no ``gcloud iam service-accounts create``), never in the project's account
  list, and has a numeric id of its own (``sub`` of the ID token IAP calls the service with). gcloud's
  ``beta run deploy --iap`` grants it ``roles/run.invoker`` on the service
  (``command_lib/run/serverless_operations.py`` ``_HandleIap``).
- ``IapKeys``: IAP signs its header ``X-Goog-IAP-JWT-Assertion`` with ES256 (P-256) keys and publishes their public
  halves at ``https://www.gstatic.com/iap/verify/public_key-jwk`` (JWKS) and ``.../public_key`` (``{kid: PEM}``).
  The emulator keeps its keys in ``<state>/iap-signing/`` (mode 0600) and serves both documents at the same paths.
- ``assertion_claims``: the claims IAP puts in the assertion for IAP directly on Cloud Run: ``iss``
  ``https://cloud.google.com/iap``, ``aud`` ``/projects/PROJECT_NUMBER/locations/REGION/services/SERVICE``,
  ``sub`` ``accounts.google.com:NUMERIC_ID``, ``email``, ``iat`` and ``exp`` (10 minutes later), as docs/identity.md
  records them.

Example::

    keys = IapKeys(Path(".cloudgate/emulator/iap-signing"))
    claims = assertion_claims(email="alice@example.com", subject_id="1234", audience=audience("1", "us-central1", "api"), now=time.time())
    header_value = keys.sign(claims)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cloudgate.google import IAP_ALGORITHM, IAP_ASSERTION_MAX_LIFETIME_S, IAP_ISSUER

#: The paths of IAP's public keys, on Google's ``www.gstatic.com`` and on the emulator alike.
JWKS_PATH = "/iap/verify/public_key-jwk"
PEM_KEYS_PATH = "/iap/verify/public_key"
#: The role IAP checks, and the permission that role holds (core/roles.py).
ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
ACCESS_PERMISSION = "iap.webServiceVersions.accessViaIAP"
#: The prefix of ``sub`` and of ``X-Goog-Authenticated-User-*`` values for a Google account.
ACCOUNT_PREFIX = "accounts.google.com:"
_KEY_FILE = "iap-es256.pem"


def agent_email(project_number: str) -> str:
    """The IAP service agent of the project (``service-NUMBER@gcp-sa-iap.iam.gserviceaccount.com``)."""
    return f"service-{project_number}@gcp-sa-iap.iam.gserviceaccount.com"


def agent_member(project_number: str) -> str:
    return f"serviceAccount:{agent_email(project_number)}"


def agent_unique_id(project_number: str) -> str:
    """The agent's numeric id: fixed per project (Google's agents keep theirs), 21 digits like every account's."""
    digest = int.from_bytes(hashlib.sha256(f"iap-agent:{project_number}".encode()).digest()[:9], "big")
    return "1" + f"{digest:020d}"[-20:]


def audience(project_number: str, region: str, service: str) -> str:
    """The ``aud`` of IAP's assertions for IAP directly on Cloud Run service ``service`` of ``region``."""
    return f"/projects/{project_number}/locations/{region}/services/{service}"


def oauth_client_id(project_number: str) -> str:
    """The OAuth client IAP uses for the project's Cloud Run services (Google-managed on Google; this fixed name in
    the emulator): programmatic callers send an ID token with this ``aud``."""
    return f"{project_number}-cloudgate-iap.apps.googleusercontent.com"


def web_resource(project_number: str, region: str, service: str) -> str:
    """The IAP API's resource name of a Cloud Run service (``gcloud beta iap web ... --resource-type=cloud-run``)."""
    return f"projects/{project_number}/iap_web/cloud_run-{region}/services/{service}"


def assertion_claims(*, email: str, subject_id: str, audience: str, now: float) -> dict[str, Any]:
    """The claims of an assertion for user ``email`` (numeric id ``subject_id``), issued at ``now``."""
    issued = int(now)
    return {
        "iss": IAP_ISSUER,
        "aud": audience,
        "sub": f"{ACCOUNT_PREFIX}{subject_id}",
        "email": email,
        "iat": issued,
        "exp": issued + IAP_ASSERTION_MAX_LIFETIME_S,
    }


class IapKeys:
    """IAP's ES256 signing key of this emulator, created on first use and kept in ``folder`` (mode 0600)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._loaded: tuple[str, ec.EllipticCurvePrivateKey] | None = None

    def _key(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load_or_create()
            return self._loaded

    def _load_or_create(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        path = self.folder / _KEY_FILE
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: use theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
            raise ValueError(f"{path} is not a P-256 key")
        public = loaded.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # A kid derived from the key: the same after a restart, so cached key sets stay valid.
        return hashlib.sha256(public).hexdigest()[:16], loaded

    @property
    def kid(self) -> str:
        return self._key()[0]

    def sign(self, claims: dict[str, Any]) -> str:
        """An ES256 JWT of ``claims`` with this key's ``kid``, as IAP signs its header."""
        kid, key = self._key()
        return jwt.encode(claims, key, algorithm=IAP_ALGORITHM, headers={"kid": kid, "typ": "JWT"})

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document (``public_key-jwk``)."""
        kid, key = self._key()
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": IAP_ALGORITHM, "use": "sig"})
        return {"keys": [jwk]}

    def pem_keys(self) -> dict[str, str]:
        """``{kid: public key PEM}`` (``public_key``)."""
        kid, key = self._key()
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {kid: pem.decode()}
