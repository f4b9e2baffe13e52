"""Reading the project's current state with read-only gcloud commands, for the plan and the read-back."""

from __future__ import annotations

import hmac
from pathlib import Path

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.commands import gcloud
from cloudgate.deploy.gcloud import Gcloud, GcloudError
from cloudgate.deploy.options import DeployOptions
from cloudgate.deploy.plan import SECRET_ACCESSOR_ROLE, Observed, SecretState, iap_policy_command
from cloudgate.errors import DeployError


def observe(options: DeployOptions, runner: Gcloud) -> Observed:
    """Everything steps 1-5 decide on. Reads only; about two gcloud calls per resource."""
    service = read_service(options, runner)
    repository = _repository_exists(options, runner)
    return Observed(
        account_exists=_account_exists(options, runner),
        secrets={name: _secret(options, runner, name, path) for name, path, _ in options.secrets},
        repository_exists=repository,
        image_exists=repository and _image_exists(options, runner),
        service=service,
        policy=read_policy(options, runner) if service is not None else {},
        iap_policy=read_iap_policy(options, runner) if service is not None and options.iap else {},
    )


def read_service(options: DeployOptions, runner: Gcloud) -> spec.Json | None:
    return read_service_at(runner, options.service, options.project, options.region)


def read_policy(options: DeployOptions, runner: Gcloud) -> spec.Json:
    return read_policy_at(runner, options.service, options.project, options.region)


def read_iap_policy(options: DeployOptions, runner: Gcloud) -> spec.Json:
    return read_iap_policy_at(runner, options.service, options.project, options.region) or {}


def read_iap_policy_at(runner: Gcloud, service: str, project: str, region: str) -> spec.Json | None:
    """The IAP policy of the service (who may pass IAP); ``None`` when it cannot be read."""
    try:
        found = runner.json_or_none(iap_policy_command(service, project, region))
    except GcloudError:
        return None
    return found if isinstance(found, dict) else None


def read_project_number(runner: Gcloud, project: str) -> str:
    """The project's number (``gcloud projects describe``): IAP's service agent and audience name it."""
    found = runner.json(gcloud("projects", "describe", project, "--format=json"))
    number = found.get("projectNumber") if isinstance(found, dict) else None
    if not isinstance(number, (str, int)) or not str(number).isdigit():
        raise DeployError(f"gcloud projects describe {project} gave no project number")
    return str(number)


def read_service_at(runner: Gcloud, service: str, project: str, region: str) -> spec.Json | None:
    """``gcloud run services describe --format=json``; ``None`` when there is no such service."""
    describe = gcloud(
        "run", "services", "describe", service, f"--project={project}", f"--region={region}", "--format=json"
    )
    found = runner.json_or_none(describe)
    return found if isinstance(found, dict) else None


def read_policy_at(runner: Gcloud, service: str, project: str, region: str) -> spec.Json:
    """The service's IAM policy (``{}`` when it has none)."""
    where = (f"--project={project}", f"--region={region}")
    found = runner.json_or_none(gcloud("run", "services", "get-iam-policy", service, *where, "--format=json"))
    return found if isinstance(found, dict) else {}


def read_older_revisions(runner: Gcloud, service: spec.Json, project: str, region: str) -> list[spec.Json]:
    """``gcloud run revisions describe --format=json`` of each revision other than the latest that traffic reaches."""
    where = (f"--project={project}", f"--region={region}")
    found = []
    for older in spec.older_revisions(service):
        revision = runner.json_or_none(gcloud("run", "revisions", "describe", older.name, *where, "--format=json"))
        if isinstance(revision, dict):
            found.append(revision)
    return found


def list_services(runner: Gcloud, project: str, region: str | None) -> list[spec.Json]:
    """``gcloud run services list --format=json``: every service of the project (all regions unless ``region``)."""
    where = (f"--project={project}", *((f"--region={region}",) if region else ()))
    found = runner.json(gcloud("run", "services", "list", *where, "--format=json"))
    items = found if isinstance(found, list) else []
    return sorted((s for s in items if isinstance(s, dict)), key=lambda s: (spec.location(s) or "", spec.name(s)))


def read_project_policy(project: str, runner: Gcloud) -> spec.Json | None:
    """The project's IAM policy, or ``None`` when the caller may not read it."""
    try:
        found = runner.json(gcloud("projects", "get-iam-policy", project, "--format=json"))
    except GcloudError:
        return None
    return found if isinstance(found, dict) else None


def _account_exists(options: DeployOptions, runner: Gcloud) -> bool:
    if options.account_is_compute_default:
        return True
    describe = gcloud(
        "iam", "service-accounts", "describe", options.runtime_account, f"--project={options.project}", "--format=json"
    )
    exists = runner.json_or_none(describe) is not None
    if not exists and not options.account_is_project_owned:
        raise DeployError(
            f"service account {options.runtime_account} does not exist, and is not this project's to create"
        )
    return exists


def _secret(options: DeployOptions, runner: Gcloud, name: str, path: Path) -> SecretState:
    project = f"--project={options.project}"
    # The policy read doubles as the existence check (NOT_FOUND for a missing secret): one gcloud call less.
    policy = runner.json_or_none(gcloud("secrets", "get-iam-policy", name, project, "--format=json"))
    if policy is None:
        return SecretState()
    try:
        latest = runner.run_bytes(gcloud("secrets", "versions", "access", "latest", f"--secret={name}", project))
    except GcloudError as exc:
        if not exc.not_found and "FAILED_PRECONDITION" not in str(exc):
            raise
        latest = None  # no enabled version yet
    # Compared here and dropped: the secret's content is never printed or kept.
    current = latest is not None and hmac.compare_digest(latest, path.read_bytes())
    accessors = spec.policy_members(policy if isinstance(policy, dict) else {}, SECRET_ACCESSOR_ROLE)
    return SecretState(exists=True, current=current, accessors=frozenset(accessors))


def _repository_exists(options: DeployOptions, runner: Gcloud) -> bool:
    if options.source is None:
        return True
    describe = gcloud(
        "artifacts",
        "repositories",
        "describe",
        options.repository,
        f"--project={options.project}",
        f"--location={options.region}",
        "--format=json",
    )
    return runner.json_or_none(describe) is not None


def _image_exists(options: DeployOptions, runner: Gcloud) -> bool:
    if options.source is None:
        return True
    return (
        runner.json_or_none(gcloud("artifacts", "docker", "images", "describe", options.image_uri, "--format=json"))
        is not None
    )
