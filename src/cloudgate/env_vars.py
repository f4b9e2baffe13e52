"""Every environment variable cloudgate reads, one documented constant each.

Service settings use the ``CLOUDGATE_`` prefix through ``EnvSettings`` (``cloudgate.service.settings``);
the names here are the ones other code refers to by name.
"""

from __future__ import annotations

#: Port the service listens on; set by Cloud Run (container contract), default 8080.
PORT = "PORT"
#: Interface ``cloudgate serve`` listens on (default 0.0.0.0, the container contract; 127.0.0.1 with ``--dev``).
HOST = "CLOUDGATE_HOST"
#: The app ``cloudgate serve`` runs (``module:attribute``) when none is named: what the image's ``CMD`` serves.
APP = "CLOUDGATE_APP"
#: The folder ``cloudgate serve`` imports the app from (default: the current folder; ``/srv`` in the image).
APP_DIR = "CLOUDGATE_APP_DIR"
#: ``true``: ``cloudgate serve`` answers cleartext HTTP/2 (h2c) too, for Cloud Run's ``--use-http2``; request bodies
#: may then exceed Cloud Run's 32 MiB HTTP/1 cap (``cloudgate.service.settings.HTTP2_MAX_BODY_BYTES``).
HTTP2 = "CLOUDGATE_HTTP2"
#: Request bodies larger than this get 413 from the service itself.
MAX_BODY_BYTES = "CLOUDGATE_MAX_BODY_BYTES"
#: Whether the client address comes from the last ``X-Forwarded-For`` hop (true behind Cloud Run's front end).
TRUST_FORWARDED_FOR = "CLOUDGATE_TRUST_FORWARDED_FOR"

#: ``name:argon2-hash`` entries, comma separated: users who may open the docs.
DOCS_USERS = "CLOUDGATE_DOCS_USERS"
#: A file of ``name:hash`` lines (a mounted secret), read in addition to ``CLOUDGATE_DOCS_USERS``.
DOCS_USERS_FILE = "CLOUDGATE_DOCS_USERS_FILE"
#: Where the docs login throttle counts failures: ``memory://`` (per instance) or ``redis://host:port[/db]``.
THROTTLE_STORAGE = "CLOUDGATE_THROTTLE_STORAGE"
#: Where API keys live: ``sqlite:///path``, ``file:///path.json`` or ``firestore://PROJECT[/DATABASE]/COLLECTION``.
KEYSTORE = "CLOUDGATE_KEYSTORE"
#: ``true``: the SQLite key file is the one ``cloudgate keys`` writes, read live by the service's one instance
#: (``cloudgate dev`` sets it for one instance); unset, on Cloud Run (``K_SERVICE``) each instance warns that its
#: key file is its own copy.
KEYSTORE_SHARED = "CLOUDGATE_KEYSTORE_SHARED"
#: How the caller's Google identity is read: ``cloud-run``, ``verify`` or ``off``.
IDENTITY = "CLOUDGATE_IDENTITY"
#: Accepted ID token audiences, comma separated.
AUDIENCES = "CLOUDGATE_AUDIENCES"
#: Where ``verify`` mode fetches signing keys.
CERTS_URL = "CLOUDGATE_CERTS_URL"
#: The ``aud`` an IAP assertion must carry (IAP's Signed Header JWT Audience for this service); empty: IAP off.
IAP_AUDIENCE = "CLOUDGATE_IAP_AUDIENCE"
#: Where IAP's ES256 public keys are fetched (default ``https://www.gstatic.com/iap/verify/public_key-jwk``).
IAP_JWKS_URL = "CLOUDGATE_IAP_JWKS_URL"
#: Emails allowed to call routes that require an allowed principal, comma separated.
ALLOWED_PRINCIPALS = "CLOUDGATE_ALLOWED_PRINCIPALS"
#: How the docs are opened: ``basic`` (docs users' passwords, the default), ``iap`` (an IAP sign-in) or ``both``.
DOCS_AUTH = "CLOUDGATE_DOCS_AUTH"
#: Who may open the docs through IAP: emails, ``user:``/``serviceAccount:`` emails, ``domain:``s, comma separated.
DOCS_IAP_USERS = "CLOUDGATE_DOCS_IAP_USERS"
#: ``json`` (Cloud Logging, the default) or ``text``: the format of ``cloudgate serve``'s log lines.
LOG_FORMAT = "CLOUDGATE_LOG_FORMAT"
#: Log level of ``cloudgate serve`` (``info`` by default).
LOG_LEVEL = "CLOUDGATE_LOG_LEVEL"
#: Client-side: the API key ``cloudgate call`` sends.
API_KEY = "CLOUDGATE_API_KEY"
#: Client-side: a service account to impersonate when minting ID tokens (Google's recommended path).
IMPERSONATE_SERVICE_ACCOUNT = "CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT"
#: Client-side: base URL of the IAM Credentials API (default ``https://iamcredentials.googleapis.com``).
IAM_ENDPOINT = "CLOUDGATE_IAM_ENDPOINT"
#: Client-side: base URL of the Security Token Service (default ``https://sts.googleapis.com``), for WIF configs.
STS_ENDPOINT = "CLOUDGATE_STS_ENDPOINT"

#: Set by Cloud Run in every container: the service's name (so code can tell it runs there).
K_SERVICE = "K_SERVICE"
#: Set by Cloud Run in every container: the revision's name and the configuration's (the service's) name.
K_REVISION = "K_REVISION"
K_CONFIGURATION = "K_CONFIGURATION"

#: google-auth: path of a credentials file.
GOOGLE_APPLICATION_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
#: google-auth: metadata server host (read at import) and IP (read per detection ping).
GCE_METADATA_HOST = "GCE_METADATA_HOST"
GCE_METADATA_IP = "GCE_METADATA_IP"
#: gcloud: metadata server root.
GCE_METADATA_ROOT = "GCE_METADATA_ROOT"
#: gcloud: configuration folder.
CLOUDSDK_CONFIG = "CLOUDSDK_CONFIG"
#: gcloud: the service account gcloud impersonates (property ``auth/impersonate_service_account``).
CLOUDSDK_IMPERSONATE_SERVICE_ACCOUNT = "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"
