"""``cloudgate audit [SERVICE | --all]``: who can reach Cloud Run services, read from gcloud, one line per finding.

Exit 1 when any finding is serious, so it can run in CI. ``--format json`` prints ``{"service", "findings": [...],
"serious": N}`` (with ``--all``: ``{"project", "services": [...], "serious": N}``); ``--format sarif`` prints a
SARIF 2.1.0 log for code scanning. The checks and their help come from ``cloudgate.deploy.checks.CHECKS``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cloudgate.cli.gcloud_options import ProjectOption, RegionOption
from cloudgate.deploy.checks import help_lines

if TYPE_CHECKING:
    from cloudgate.deploy.findings import Finding, Target


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


_HELP = (
    "Audit Cloud Run services: who may invoke them, IAM check, runtime account, secrets. Exit 1 if serious.\n\n"
    "One service, or every service of the project in every region (--all); one line per finding, or JSON, or "
    "SARIF 2.1.0 for code scanning (--format sarif). Checks (code, severity: what it means):\n\n"
    + "\n\n".join(f"- {line}" for line in help_lines())
    + "\n\n    cloudgate audit --all --project my-proj --format sarif > audit.sarif"
)


def audit(
    service: Annotated[
        str | None, typer.Argument(help="Cloud Run service name (or --all).", show_default=False)
    ] = None,
    all_services: Annotated[
        bool, typer.Option("--all", help="Every service in the project, all regions (or --region's).")
    ] = False,
    project: ProjectOption = None,
    region: RegionOption = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text, json or sarif.")] = OutputFormat.text,
) -> None:
    from cloudgate.deploy.audit import Target, audit_service
    from cloudgate.deploy.gcloud import Gcloud
    from cloudgate.deploy.observe import (
        list_services,
        read_iap_policy_at,
        read_older_revisions,
        read_policy_at,
        read_project_policy,
        read_service_at,
    )
    from cloudgate.deploy.service_spec import iap_enabled, location, name
    from cloudgate.errors import ConfigError, DeployError

    if (service is None) == (not all_services):
        raise ConfigError("name one SERVICE, or pass --all (not both)")
    runner = Gcloud()
    project = project or runner.config_value("core/project")
    if not project:
        raise ConfigError("pass --project (or set gcloud's core/project)")
    if service is None:
        listed = list_services(runner, project, region)
        found = [(Target(name(s), project, location(s) or region or "-"), s) for s in listed]
    else:
        region = region or runner.config_value("run/region")
        if not region:
            raise ConfigError("pass --region (or set gcloud's run/region)")
        described = read_service_at(runner, service, project, region)
        if described is None:
            raise DeployError(f"no Cloud Run service {service} in {project}/{region}")
        found = [(Target(service, project, region), described)]
    project_policy = read_project_policy(project, runner)
    audited: list[tuple[Target, list[Finding]]] = []
    for target, described in found:
        policy = read_policy_at(runner, target.service, project, target.region)
        older = read_older_revisions(runner, described, project, target.region)
        iap_policy = (
            read_iap_policy_at(runner, target.service, project, target.region) if iap_enabled(described) else None
        )
        audited.append((target, audit_service(target, described, policy, project_policy, older, iap_policy)))
    serious = sum(1 for _target, findings in audited for f in findings if f.serious)
    typer.echo(_render(output, project, audited, serious, single=service is not None))
    if output is OutputFormat.text:
        where = f"{service} in {project}/{region}" if service else f"{len(audited)} service(s) of {project}"
        typer.echo(f"{serious} serious finding(s) for {where}", err=True)
    if serious:
        raise typer.Exit(1)


def _render(
    output: OutputFormat, project: str, audited: list[tuple[Target, list[Finding]]], serious: int, *, single: bool
) -> str:
    if output is OutputFormat.sarif:
        from cloudgate import __version__
        from cloudgate.deploy.sarif import sarif_log

        return json.dumps(sarif_log(audited, __version__), indent=2)
    reports = [
        {
            "service": target.service,
            "project": target.project,
            "region": target.region,
            "serious": sum(1 for f in findings if f.serious),
            "findings": [f.as_dict() for f in findings],
        }
        for target, findings in audited
    ]
    if output is OutputFormat.json:
        body = reports[0] if single else {"project": project, "serious": serious, "services": reports}
        return json.dumps(body, indent=2)
    if single:
        return "\n".join(f.line() for f in audited[0][1])
    blocks = [f"== {t.service} ({t.region})\n" + "\n".join(f.line() for f in findings) for t, findings in audited]
    return "\n".join(blocks) if blocks else f"no Cloud Run services in {project}"


def register(root: typer.Typer) -> None:
    root.command("audit", help=_HELP)(audit)
