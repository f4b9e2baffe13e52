"""Google's constants: issuers, URLs, header names and limits that cloudgate must match.

Sources are listed in ``shared/CLOUD_RUN.md``; each constant here names the fact it encodes.
"""

from __future__ import annotations

#: Issuers of Google-signed ID tokens (``verify_oauth2_token`` accepts both spellings).
ID_TOKEN_ISSUERS: frozenset[str] = frozenset({"https://accounts.google.com", "accounts.google.com"})
#: The canonical issuer the emulator writes into the tokens it mints.
ID_TOKEN_ISSUER = "https://accounts.google.com"  # noqa: S105 - a URL, not a secret

#: Google's public keys for ID tokens, as ``{kid: x509 PEM}`` and as JWKS.
OAUTH2_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
OAUTH2_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"

#: The token endpoint, and the ``aud`` google-auth writes into every jwt-bearer assertion whatever ``token_uri`` is.
TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: Cloud Run's IAM front end checks this header first; if absent, ``Authorization``.
SERVERLESS_AUTH_HEADER = "X-Serverless-Authorization"
#: What Cloud Run writes in place of the signature of the token it forwards to the container.
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
TRACE_CONTEXT_HEADER = "X-Cloud-Trace-Context"

#: Metadata server: header both ways, default host, and the paths google-auth and gcloud use.
METADATA_FLAVOR_HEADER = "Metadata-Flavor"
METADATA_FLAVOR = "Google"
METADATA_HOST = "metadata.google.internal"
METADATA_IP = "169.254.169.254"

#: Cloud Run's HTTP/1 limit on non-streamed responses and on requests.
CLOUD_RUN_MAX_BYTES = 32 * 1024 * 1024
#: Seconds between SIGTERM and SIGKILL when Cloud Run stops an instance.
CLOUD_RUN_SHUTDOWN_GRACE_S = 10
#: Default and maximum request timeout, seconds.
CLOUD_RUN_DEFAULT_TIMEOUT_S = 300
CLOUD_RUN_MAX_TIMEOUT_S = 3600
#: gcloud's OAuth client id: the ``aud`` of ``gcloud auth print-identity-token`` without ``--audiences``.
#: Cloud Run accepts such tokens on every service the principal may invoke.
GCLOUD_CLIENT_ID = "32555940559.apps.googleusercontent.com"
#: Default number of requests one instance takes at once (``--concurrency``; at most 1000).
CLOUD_RUN_DEFAULT_CONCURRENCY = 80
#: The role a principal needs to call a private service.
INVOKER_ROLE = "roles/run.invoker"
#: Google ID tokens last one hour.
ID_TOKEN_LIFETIME_S = 3600
#: A federated member of an IAM policy (Workload Identity Federation): one identity of a workload identity pool
#: (``principal://.../subject/SUBJECT``) or a set of them (``principalSet://.../attribute.NAME/VALUE``,
#: ``.../group/GROUP``, ``.../*``). Workforce pools (``locations/global/workforcePools/POOL``) take the same forms.
FEDERATED_MEMBER_PATTERN = (
    r"^(principal|principalSet)://iam\.googleapis\.com/"
    r"(projects/[0-9]+/locations/global/workloadIdentityPools|locations/global/workforcePools)/[a-z0-9-]{4,32}/"
    r"(subject/\S+|group/\S+|attribute\.[a-z_][a-z0-9_]{0,99}/\S+|\*)$"
)

#: Identity-Aware Proxy's signed header (https://cloud.google.com/iap/docs/signed-headers-howto): a JWT signed
#: ES256 by IAP, the only IAP header a service may trust. IAP strips client-sent ``X-Goog-*`` headers, but a request
#: that bypasses IAP can carry any of them, so the unsigned ``X-Goog-Authenticated-User-*`` prove nothing alone.
IAP_ASSERTION_HEADER = "X-Goog-IAP-JWT-Assertion"
IAP_USER_EMAIL_HEADER = "X-Goog-Authenticated-User-Email"
IAP_USER_ID_HEADER = "X-Goog-Authenticated-User-Id"
#: The assertion's ``iss``, its only ``alg``, and IAP's public keys (``public_key`` is the same set as ``{kid: PEM}``).
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_ALGORITHM = "ES256"
IAP_JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"
IAP_PEM_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key"
#: "The maximum lifetime for a token is 10 minutes + 2 * skew" (signed-headers-howto, the ``exp`` row).
IAP_ASSERTION_MAX_LIFETIME_S = 600
#: Who may pass IAP on a resource (``gcloud beta iap web add-iam-policy-binding --resource-type=cloud-run``).
IAP_ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
#: ``gcloud beta iap web ... --resource-type=`` for IAP directly on a Cloud Run service.
IAP_CLOUD_RUN_RESOURCE_TYPE = "cloud-run"


def iap_service_agent(project_number: str) -> str:
    """The IAM member of IAP's service agent, which calls a Cloud Run service behind IAP and needs
    ``roles/run.invoker`` on it (gcloud's ``serverless_operations._HandleIap``; cloud.google.com/iap/docs/enabling-cloud-run)."""
    return f"serviceAccount:service-{project_number}@gcp-sa-iap.iam.gserviceaccount.com"


def iap_cloud_run_audience(project_number: str, region: str, service: str) -> str:
    """The ``aud`` reported for IAP's assertion on a Cloud Run service without a load balancer (unconfirmed from
    Google's own text: docs/identity.md, "The IAP assertion"); a setting, never assumed by the service."""
    return f"/projects/{project_number}/locations/{region}/services/{service}"
