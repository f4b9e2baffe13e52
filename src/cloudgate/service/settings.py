"""The service's settings, read from ``CLOUDGATE_*`` environment variables (``EnvSettings``).

No settings object exists at import time: ``get_settings()`` builds one on first use and caches it, and
``create_app``/``protect`` take an explicit one (tests pass their own).

Example::

    CLOUDGATE_IDENTITY=verify CLOUDGATE_AUDIENCES=https://svc-abc-uc.a.run.app cloudgate serve app.main:app
"""

from __future__ import annotations

import functools
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from cloudgate import codes, env_vars
from cloudgate.google import CLOUD_RUN_MAX_BYTES, IAP_JWKS_URL, OAUTH2_CERTS_URL
from cloudgate.service.env_settings import EnvSettings

#: The default body limit of a service served over HTTP/2 (``CLOUDGATE_HTTP2``): Cloud Run sets no request size
#: limit on HTTP/2 end to end, but a body written to the in-memory filesystem still costs the instance memory.
HTTP2_MAX_BODY_BYTES = 512 * 1024 * 1024


class IdentityMode(StrEnum):
    """How the caller's Google identity is established."""

    #: Behind Cloud Run's IAM check: the signature was stripped by Google; trust the claims, check aud/exp.
    CLOUD_RUN = "cloud-run"
    #: Full RS256 verification against the certs URL.
    VERIFY = "verify"
    #: Ignore Google identity entirely.
    OFF = "off"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    return value


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"1", "t", "true", "y", "yes", "on"})


class DocsAuth(StrEnum):
    """How the docs are opened (``CLOUDGATE_DOCS_AUTH``)."""

    #: A docs user's password (HTTP Basic): the default.
    BASIC = "basic"
    #: An Identity-Aware Proxy sign-in of one of ``CLOUDGATE_DOCS_IAP_USERS`` (needs ``CLOUDGATE_IAP_AUDIENCE``).
    IAP = "iap"
    #: Either: an IAP sign-in of a listed user, else a docs user's password.
    BOTH = "both"

    @property
    def basic(self) -> bool:
        return self is not DocsAuth.IAP

    @property
    def iap(self) -> bool:
        return self is not DocsAuth.BASIC


class ServiceSettings(EnvSettings):
    """Everything the service core reads from the environment (prefix ``CLOUDGATE_``)."""

    # Docs behind HTTP Basic.
    docs_users: SecretStr = Field(
        SecretStr(""), description="`name:argon2-hash` entries, comma separated. Empty: docs disabled (404)."
    )
    docs_users_file: Path | None = Field(None, description="File of `name:hash` lines (a mounted secret).")
    docs_auth: DocsAuth = Field(
        DocsAuth.BASIC,
        description="How the docs are opened: `basic` (docs users' passwords), `iap` (an IAP sign-in of one of "
        "`CLOUDGATE_DOCS_IAP_USERS`) or `both`.",
    )
    docs_iap_users: list[str] = Field(
        default_factory=list,
        description="Who may open the docs through IAP (`docs_auth` `iap` or `both`): emails, `user:EMAIL`, "
        "`serviceAccount:EMAIL`, `domain:DOMAIN`. Empty: nobody through IAP.",
    )
    docs_realm: str = "API docs"
    docs_cache_seconds: float = Field(60.0, ge=0, description="How long a verified Basic credential is remembered.")
    docs_max_failures: int = Field(
        5, ge=1, description="Password checks allowed per client per window (a remembered login costs none)."
    )
    docs_failure_window_seconds: int = Field(60, ge=1)
    throttle_storage: str = Field(
        "memory://",
        description="Where the docs login throttle counts: `memory://` (per instance) or `redis://host:port[/db]` "
        "(shared by every instance).",
    )

    # API keys.
    keystore: str = Field(
        "sqlite:///.cloudgate/keys.sqlite3",
        description="`sqlite:///path`, `file:///path.json` or `firestore://PROJECT[/DATABASE]/COLLECTION`.",
    )
    keystore_shared: bool = Field(
        False,
        description="The SQLite key file is the one `cloudgate keys` writes, read live by the only instance (as "
        "`cloudgate dev` runs one): no per-instance copy, so no warning on Cloud Run.",
    )
    key_cache_seconds: float = Field(
        2.0, ge=0, description="How long key records are cached in memory; a revocation takes effect within this."
    )
    api_key_header: str = Field(
        codes.API_KEY_HEADER, description="Header that carries the API key (never Authorization)."
    )

    # Google identity.
    identity: IdentityMode = IdentityMode.CLOUD_RUN
    audiences: list[str] = Field(
        default_factory=list, description="Accepted ID token audiences (the service URL, custom audiences)."
    )
    certs_url: str = OAUTH2_CERTS_URL
    allowed_principals: list[str] = Field(
        default_factory=list, description="Emails allowed on routes that require an allowed principal."
    )
    clock_skew_seconds: int = Field(30, ge=0, le=300)
    certs_refetch_cooldown_seconds: float = Field(30.0, ge=0)

    # Identity-Aware Proxy (docs/identity.md, "The IAP assertion").
    iap_audience: str = Field(
        "",
        description="The `aud` an IAP assertion must carry: IAP's Signed Header JWT Audience for this service "
        "(`/projects/NUMBER/locations/REGION/services/NAME` as `cloudgate deploy --iap` sets it, "
        "`/projects/NUMBER/global/backendServices/ID` behind a load balancer). Empty: IAP assertions are not read.",
    )
    iap_jwks_url: str = Field(
        IAP_JWKS_URL, description="Where IAP's ES256 public keys are fetched (JWKS or {kid: PEM})."
    )

    # Limits.
    http2: bool = Field(
        False, description="Served over h2c (`cloudgate serve --http2`): request bodies may exceed Cloud Run's 32 MiB."
    )
    max_body_bytes: int = Field(
        CLOUD_RUN_MAX_BYTES - 1,
        ge=0,
        description="Larger request bodies get 413. Default: 32 MiB - 1 (Cloud Run's HTTP/1 cap), 512 MiB with `http2`.",
    )
    max_header_bytes: int = Field(64 * 1024, ge=1024, description="Larger request headers (all together) get 431.")
    max_response_bytes: int = Field(
        CLOUD_RUN_MAX_BYTES - 64 * 1024,
        ge=0,
        description="Larger non-streamed responses are refused (Cloud Run would send an empty 500).",
    )
    trust_forwarded_for: Literal["auto"] | bool = Field(
        "auto",
        description="Take the client address from X-Forwarded-For: `auto` only on Cloud Run (`K_SERVICE` set), whose "
        "front end appends it; `true` behind another proxy that appends it; `false` never.",
    )

    # Logging.
    project_id: str | None = Field(None, description="Google project id, for trace links in logs.")

    def forwarded_for_trusted(self) -> bool:
        """Whether ``X-Forwarded-For`` may name the client: on ``auto``, only where Cloud Run appends it.

        Off Cloud Run a client that reaches the service directly writes the header itself, and would choose its
        own login-throttle bucket.
        """
        if self.trust_forwarded_for == "auto":
            return bool(os.environ.get(env_vars.K_SERVICE))
        return self.trust_forwarded_for

    @model_validator(mode="before")
    @classmethod
    def _http2_body_limit(cls, data: Any) -> Any:
        # Only the default moves: an explicit CLOUDGATE_MAX_BODY_BYTES is kept whatever the protocol.
        if isinstance(data, dict) and "max_body_bytes" not in data and _truthy(data.get("http2")):
            return {**data, "max_body_bytes": HTTP2_MAX_BODY_BYTES}
        return data

    @field_validator("audiences", "allowed_principals", "docs_iap_users", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("throttle_storage")
    @classmethod
    def _throttle_storage(cls, value: str) -> str:
        if value != "memory://" and not value.startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError("use memory:// or redis://host:port[/db] (rediss:// for TLS, redis+unix:///path)")
        return value

    @field_validator("api_key_header")
    @classmethod
    def _not_authorization(cls, value: str) -> str:
        if value.strip().lower() in {"authorization", "x-serverless-authorization", ""}:
            raise ValueError(
                "the API key header must not be Authorization or X-Serverless-Authorization: "
                "Cloud Run's IAM check reads those"
            )
        return value.strip()


@functools.cache
def get_settings() -> ServiceSettings:
    """The process-wide settings, read from the environment on first use."""
    return ServiceSettings()
