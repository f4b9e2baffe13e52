"""``cloudgate audit SERVICE``: who can reach a Cloud Run service, read from gcloud, one line per finding.

Exit 1 when a finding is serious (public invoker, IAM check off, default or over-privileged runtime account),
so it can run in CI. ``--format json`` prints ``{"service", "findings": [...], "serious": N}``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from cloudgate.cli.gcloud_options import ProjectOption, RegionOption


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


_HELP = """Audit any Cloud Run service: who may invoke it, IAM check, runtime account, secrets. Exit 1 if serious.

Checks invokers (public or not), the invoker IAM check, ingress, the runtime account (the Compute default
account, project Editor/Owner), secrets passed as env vars and custom audiences; one line per finding.

    cloudgate audit my-service --project my-proj --region europe-west1 --format json
"""


def audit(
    service: Annotated[str, typer.Argument(help="Cloud Run service name.", show_default=False)],
    project: ProjectOption = None,
    region: RegionOption = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    from cloudgate.deploy.audit import Target, audit_service
    from cloudgate.deploy.gcloud import Gcloud
    from cloudgate.deploy.observe import read_policy_at, read_project_policy, read_service_at
    from cloudgate.errors import ConfigError, DeployError

    runner = Gcloud()
    project = project or runner.config_value("core/project")
    region = region or runner.config_value("run/region")
    if not project or not region:
        raise ConfigError("pass --project and --region (or set gcloud's core/project and run/region)")
    described = read_service_at(runner, service, project, region)
    if described is None:
        raise DeployError(f"no Cloud Run service {service} in {project}/{region}")
    policy = read_policy_at(runner, service, project, region)
    target = Target(service, project, region)
    findings = audit_service(target, described, policy, read_project_policy(project, runner))
    serious = sum(1 for f in findings if f.serious)
    if output is OutputFormat.json:
        body = {"service": service, "project": project, "region": region, "serious": serious}
        typer.echo(json.dumps({**body, "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        for finding in findings:
            typer.echo(finding.line())
        typer.echo(f"{serious} serious finding(s) for {service} in {project}/{region}", err=True)
    if serious:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.command("audit", help=_HELP)(audit)
