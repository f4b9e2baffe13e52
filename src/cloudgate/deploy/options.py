"""What a deploy asks for: one frozen value, validated before anything runs, plus the names derived from it.

The CLI fills it from flags and gcloud's defaults; the plan reads it and nothing else. Names that cloudgate
chooses (the runtime account, the secrets, their mount paths) are derived here so that every run picks the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cloudgate.deploy.env_secrets import secret_kind
from cloudgate.deploy.fields import BY_NAME
from cloudgate.errors import ConfigError
from cloudgate.google import FEDERATED_MEMBER_PATTERN, iap_cloud_run_audience, iap_service_agent

#: Where the two secrets are mounted: Cloud Run wants one folder per secret volume.
DOCS_USERS_PATH = "/secrets/docs-users/users"
KEYS_PATH = "/secrets/api-keys/keys.json"
#: Artifact Registry repository that ``--source``/``--local-build`` images go to.
DEFAULT_REPOSITORY = "cloudgate"
COMPUTE_DEFAULT_SUFFIX = "-compute@developer.gserviceaccount.com"

_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_MEMBER = re.compile(r"^(serviceAccount|user|group):[^\s,]+$")
_IAP_MEMBER = re.compile(r"^(serviceAccount|user|group|domain):[^\s,]+$")
_PROJECT_NUMBER = re.compile(r"^\d{1,20}$")
_FEDERATED = re.compile(FEDERATED_MEMBER_PATTERN)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
_PUBLIC = ("allUsers", "allAuthenticatedUsers")


@dataclass(frozen=True)
class DeployOptions:
    """Everything ``cloudgate deploy`` was asked for. ``image`` and ``source`` are exclusive."""

    project: str
    region: str
    service: str
    image: str | None = None
    source: Path | None = None
    local_build: bool = False
    #: Tag for a built image (the CLI derives it from the source's content, so an unchanged source reuses it).
    image_tag: str = "latest"
    repository: str = DEFAULT_REPOSITORY
    service_account: str | None = None
    allow_default_service_account: bool = False
    invokers: tuple[str, ...] = ()
    docs_users_file: Path | None = None
    keys_file: Path | None = None
    #: ``(name, value)`` for each row of ``fields.FIELDS`` given (``("memory", "1Gi")``); unset ones keep gcloud's.
    settings: tuple[tuple[str, str], ...] = ()
    http2: bool = False
    custom_audiences: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: The container's entrypoint and arguments (gcloud's ``--command``/``--args``); empty: the image's own.
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    #: A local tool for ``--local-build``: buildah, podman or docker.
    builder: str = "podman"
    #: Identity-Aware Proxy directly on the service (``gcloud beta run deploy --iap``); off: ``--no-iap``.
    iap: bool = False
    #: Who may pass IAP (``roles/iap.httpsResourceAccessor`` on the service's IAP resource), and nobody else.
    iap_members: tuple[str, ...] = ()
    #: The project's number, read by the CLI with ``--iap``: IAP's service agent and the audience name it.
    #: ``None`` only in a dry run that could not read it (``PROJECT_NUMBER`` is shown); a deploy refuses to run.
    project_number: str | None = None
    #: ``CLOUDGATE_IAP_AUDIENCE`` when not the reported Cloud Run form (``--iap-audience``).
    iap_audience_override: str | None = None
    #: ``CLOUDGATE_IAP_JWKS_URL`` where IAP's keys are not Google's (the emulator's).
    iap_jwks_url: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def setting(self, name: str) -> str | None:
        """The value asked for the ``fields.FIELDS`` row ``name``, or ``None``."""
        return dict(self.settings).get(name)

    @property
    def runtime_account(self) -> str:
        """The runtime service account's email (default: ``SERVICE-runtime`` in the project)."""
        if self.service_account:
            return self.service_account if "@" in self.service_account else self._email(self.service_account)
        account_id = f"{self.service}-runtime"[:30].rstrip("-")
        return self._email(account_id)

    @property
    def account_is_compute_default(self) -> bool:
        return self.runtime_account.endswith(COMPUTE_DEFAULT_SUFFIX)

    @property
    def account_is_project_owned(self) -> bool:
        """A user-managed account of this project: cloudgate may create it."""
        return self.runtime_account.endswith(f"@{self.project}.iam.gserviceaccount.com")

    @property
    def docs_users_secret(self) -> str:
        return f"{self.service}-docs-users"

    @property
    def keys_secret(self) -> str:
        return f"{self.service}-api-keys"

    @property
    def secrets(self) -> tuple[tuple[str, Path, str], ...]:
        """``(secret name, local file, mount path)`` for each secret file given."""
        found = []
        if self.docs_users_file is not None:
            found.append((self.docs_users_secret, self.docs_users_file, DOCS_USERS_PATH))
        if self.keys_file is not None:
            found.append((self.keys_secret, self.keys_file, KEYS_PATH))
        return tuple(found)

    @property
    def image_uri(self) -> str:
        """The image deployed: ``--image``, or where a build puts it in Artifact Registry."""
        if self.image:
            return self.image
        return f"{self.registry_host}/{self.project}/{self.repository}/{self.service}:{self.image_tag}"

    @property
    def registry_host(self) -> str:
        return f"{self.region}-docker.pkg.dev"

    @property
    def iap_agent(self) -> str | None:
        """IAP's service agent as an IAM member (it calls the service, so it must be an invoker), with ``--iap``."""
        if not self.iap:
            return None
        return iap_service_agent(self.project_number or _NUMBER_UNKNOWN)

    @property
    def iap_audience(self) -> str | None:
        """``CLOUDGATE_IAP_AUDIENCE``, with ``--iap``: ``--iap-audience``, else the reported Cloud Run form."""
        if not self.iap:
            return None
        if self.iap_audience_override:
            return self.iap_audience_override
        return iap_cloud_run_audience(self.project_number or _NUMBER_UNKNOWN, self.region, self.service)

    @property
    def invoker_members(self) -> tuple[str, ...]:
        """Everyone who must hold ``roles/run.invoker``: the ``--invoker``s, and IAP's agent with ``--iap``."""
        agent = self.iap_agent
        return self.invokers if agent is None or agent in self.invokers else (*self.invokers, agent)

    def _email(self, account_id: str) -> str:
        return f"{account_id}@{self.project}.iam.gserviceaccount.com"


def parse_env(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` flags -> pairs (the value may contain ``=``)."""
    parsed = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            # Not shown: what was meant as a value may be a secret.
            raise ConfigError("--env: expected KEY=VALUE (an item has no '=')")
        parsed.append((name, value))
    return tuple(parsed)


def _validate(options: DeployOptions) -> None:
    if not options.project:
        raise ConfigError("no project: pass --project or run `gcloud config set project PROJECT`")
    if not options.region:
        raise ConfigError("no region: pass --region or run `gcloud config set run/region REGION`")
    if not _SERVICE_NAME.match(options.service):
        raise ConfigError(
            f"service name {options.service!r}: lowercase letters, digits and hyphens, starting with a letter, "
            "at most 49 characters"
        )
    if (options.image is None) == (options.source is None):
        raise ConfigError("give exactly one of --image IMAGE and --source DIR")
    if options.local_build and options.source is None:
        raise ConfigError("--local-build builds --source DIR; it has no meaning with --image")
    account = options.service_account
    if account and "@" not in account and not _ACCOUNT_ID.match(account):
        raise ConfigError(f"--service-account {account!r}: an email, or an account id of 6-30 lowercase characters")
    if options.account_is_compute_default and not options.allow_default_service_account:
        raise ConfigError(
            f"{options.runtime_account} is the Compute Engine default account, which holds the project's Editor "
            "role by default; use a dedicated account (the default), or pass --allow-default-service-account"
        )
    for member in options.invokers:
        if member.split(":", 1)[-1] in _PUBLIC or member in _PUBLIC:
            raise ConfigError(f"--invoker {member}: cloudgate deploys private services only")
        if member.startswith("domain:"):
            raise ConfigError(f"--invoker {member}: every account of a domain could call it; name a group instead")
        if member.startswith(("principal:", "principalSet:")):
            if not _FEDERATED.match(member):
                raise ConfigError(
                    f"--invoker {member!r}: expected principalSet://iam.googleapis.com/projects/NUMBER/locations/"
                    "global/workloadIdentityPools/POOL/attribute.NAME/VALUE (or .../subject/SUBJECT, .../group/GROUP, "
                    ".../*), principal:// for one subject"
                )
        elif not _MEMBER.match(member):
            raise ConfigError(
                f"--invoker {member!r}: expected serviceAccount:EMAIL, user:EMAIL, group:EMAIL, principalSet://..."
            )
    _validate_iap(options)
    for name, _ in options.env:
        if not _ENV_NAME.match(name):
            raise ConfigError(f"--env {name!r}: not a valid environment variable name")
        if name in _RESERVED_ENV or name.startswith("CLOUDGATE_DOCS_USERS") or name in _MANAGED_ENV:
            raise ConfigError(f"--env {name}: set by Cloud Run or by cloudgate deploy itself")
    for name, value in options.env:
        kind = secret_kind(name, value)
        if kind is not None:
            # The value is neither printed nor passed on: the deploy stops before any gcloud command.
            raise ConfigError(
                f"--env {name}: its value looks like a secret ({kind}); env vars are readable by anyone who can "
                "describe the service. Put it in Secret Manager and mount it as a file (--docs-users-file, "
                "--keys-file, or `gcloud run services update --update-secrets`)"
            )
    for name, value in options.settings:
        field = BY_NAME.get(name)
        problem = f"no setting {name!r}" if field is None else field.problem(value)
        if problem is not None:
            raise ConfigError(problem)
    for path in (options.docs_users_file, options.keys_file):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: no such file")


def _validate_iap(options: DeployOptions) -> None:
    if not options.iap:
        for given, flag in ((options.iap_members, "--iap-member"), (options.iap_audience_override, "--iap-audience")):
            if given:
                raise ConfigError(f"{flag} needs --iap (IAP directly on the service)")
        return
    if options.project_number is not None and not _PROJECT_NUMBER.match(options.project_number):
        raise ConfigError(f"project number {options.project_number!r}: expected digits (gcloud projects describe)")
    for member in options.iap_members:
        if member.split(":", 1)[-1] in _PUBLIC or member in _PUBLIC:
            raise ConfigError(f"--iap-member {member}: anyone with a Google account would pass IAP; name people")
        if not _IAP_MEMBER.match(member):
            raise ConfigError(
                f"--iap-member {member!r}: expected user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN"
            )
    for name, _ in options.env:
        if name in _IAP_ENV:
            raise ConfigError(f"--env {name}: set by cloudgate deploy --iap itself (--iap-audience)")


#: Shown for the project's number where a dry run could not read it.
_NUMBER_UNKNOWN = "PROJECT_NUMBER"
#: Environment variables the deploy sets itself.
_MANAGED_ENV = ("CLOUDGATE_IDENTITY", "CLOUDGATE_KEYSTORE")
#: ... and with ``--iap``.
_IAP_ENV = ("CLOUDGATE_IAP_AUDIENCE", "CLOUDGATE_IAP_JWKS_URL")
