"""Checks of what the revision carries: literal secrets (by value, in every container), secrets as env vars,
custom audiences, readiness."""

from __future__ import annotations

from collections.abc import Iterator

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.audit_input import AuditInput
from cloudgate.deploy.env_secrets import argument_secret_kind, secret_kind
from cloudgate.deploy.findings import Issue


def literal_secrets(given: AuditInput) -> Iterator[Issue]:
    """Env values and command-line arguments of every container that look like secrets. Never shows the value."""
    for index, box in enumerate(spec.containers(given.service)):
        label, container = spec.container_label(box, index), spec.container_flag(given.service, index)
        for name, value in sorted(spec.literal_env(box).items()):
            kind = secret_kind(name, value)
            if kind is not None:
                yield Issue(
                    f"env var {name} of container {label} holds {kind} in plain text: anyone who can describe "
                    "the service (roles/run.viewer) reads it. Rotate it, then mount the new one from Secret "
                    "Manager as a file (--update-secrets=/secrets/NAME/value=NAME:latest)",
                    f"gcloud run services update {given.target.where()}{container} --remove-env-vars={name}",
                )
        for position, argument in enumerate(spec.arguments(box)):
            kind = argument_secret_kind(argument)
            if kind is not None:
                yield Issue(
                    f"argument {position + 1} of container {label}'s command line holds {kind} in plain text: "
                    "rotate it, and redeploy reading it from a mounted secret file instead"
                )


def literal_secrets_in_older_revisions(given: AuditInput) -> Iterator[Issue]:
    """The same, in revisions other than the latest that traffic or a tag still reaches: removing a secret from
    the service makes a new revision, and the old one keeps serving it while traffic or a tag points there."""
    for older in spec.older_revisions(given.service):
        revision = given.older_revisions.get(older.name)
        if revision is None:
            continue
        tags = f" --remove-tags={','.join(older.tags)}" if older.tags else ""
        fix = f"gcloud run services update-traffic {given.target.where()} --to-latest{tags}"
        for index, box in enumerate(spec.revision_containers(revision)):
            label = spec.container_label(box, index)
            found = [f"env var {name}" for name, value in sorted(spec.literal_env(box).items())
                     if secret_kind(name, value) is not None]  # fmt: skip
            found += [f"argument {position + 1}" for position, argument in enumerate(spec.arguments(box))
                      if argument_secret_kind(argument) is not None]  # fmt: skip
            for what in found:
                yield Issue(
                    f"{what} of container {label} of revision {older.name} ({older.how()}) holds a secret in plain "
                    "text, though the latest revision may not: rotate it, send the revision no traffic, then "
                    f"delete it (gcloud run revisions delete {older.name})",
                    fix,
                )


def secrets_as_env(given: AuditInput) -> Iterator[Issue]:
    for index, box in enumerate(spec.containers(given.service)):
        for ref in spec.secret_refs(given.service, box):
            if ref.env is not None:
                container = spec.container_flag(given.service, index)
                yield Issue(
                    f"secret {ref.secret} arrives in container {spec.container_label(box, index)} as env var "
                    f"{ref.env} (read once at start: rotation needs a redeploy)",
                    f"gcloud run services update {given.target.where()}{container} --remove-secrets={ref.env} "
                    f"--update-secrets=/secrets/{ref.secret}/value={ref.secret}:latest",
                )


def custom_audiences(given: AuditInput) -> Iterator[Issue]:
    audiences = spec.custom_audiences(given.service)
    if audiences:
        yield Issue(
            "ID tokens minted for these audiences are accepted too (a token for one is valid on every service "
            "sharing it): " + ", ".join(audiences)
        )


def not_ready(given: AuditInput) -> Iterator[Issue]:
    reason = spec.not_ready_reason(given.service)
    if reason is not None:
        yield Issue(
            f"the latest revision is not ready: {reason}", f"gcloud run services describe {given.target.where()}"
        )
