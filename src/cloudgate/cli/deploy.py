"""``cloudgate deploy``: a private Cloud Run service in one command, shown as a plan, proved by reading it back.

Flags mirror ``gcloud run deploy``; ``--project`` and ``--region`` default to gcloud's ``core/project`` and
``run/region``. ``--dry-run`` reads the project (read-only gcloud calls) and prints this run's gcloud commands,
"no changes" where a step has nothing to do; it changes nothing. Without ``--image``, ``--source`` is ``.``.
"""

from __future__ import annotations

import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloudgate.cli.gcloud_options import ProjectOption, RegionOption
from cloudgate.deploy.fields import FIELDS, Field
from cloudgate.errors import ConfigError

if TYPE_CHECKING:
    from cloudgate.deploy.gcloud import Gcloud
    from cloudgate.deploy.options import DeployOptions

_BUILDERS = ("buildah", "podman", "docker")

_HELP = """Deploy a private Cloud Run service: runtime account, secrets, image, deploy, invokers, read back, smoke test.

Each step checks what exists first, so a second run changes only what differs, or says "no changes".

Secrets (--docs-users-file, --keys-file) go to Secret Manager, mounted as files: rotation needs no redeploy.

Example: [bold]cloudgate deploy --service api --source . --invoker user:me@example.com --dry-run[/]
"""

Repeated = Annotated[list[str], typer.Option(show_default=False)]


def deploy(
    service: Annotated[str, typer.Option("--service", help="Cloud Run service name.", show_default=False)],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Build this folder (its Dockerfile) with Cloud Build. Default without --image: '.'.",
            show_default=False,
        ),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Deploy this image as is.", show_default=False)] = None,
    local_build: Annotated[
        bool, typer.Option("--local-build", help="Build --source here (buildah/podman/docker) and push it.")
    ] = False,
    project: ProjectOption = None,
    region: RegionOption = None,
    service_account: Annotated[
        str | None,
        typer.Option(
            "--service-account",
            help="Runtime identity (email or account id). Default: SERVICE-runtime, created with no project roles.",
            show_default=False,
        ),
    ] = None,
    allow_default_service_account: Annotated[
        bool, typer.Option("--allow-default-service-account", help="Accept the Compute Engine default account.")
    ] = False,
    invoker: Annotated[
        list[str],
        typer.Option(
            "--invoker",
            metavar="MEMBER",
            help="serviceAccount:EMAIL, user:EMAIL or group:EMAIL to get roles/run.invoker; repeat for more.",
            show_default=False,
        ),
    ] = [],  # noqa: B006 - typer needs a list default
    docs_users_file: Annotated[
        Path | None,
        typer.Option("--docs-users-file", help="name:argon2-hash lines (cloudgate hash-password).", show_default=False),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            "--keys-file", help="API key hashes (cloudgate keys create --keystore file:///...).", show_default=False
        ),
    ] = None,
    http2: Annotated[bool, typer.Option("--http2", help="End-to-end HTTP/2 (h2c): no 32 MiB request cap.")] = False,
    iap: Annotated[
        bool,
        typer.Option(
            "--iap",
            help="Identity-Aware Proxy on the service (gcloud beta run deploy --iap): people sign in with Google. "
            "Sets CLOUDGATE_IAP_AUDIENCE; IAP's service agent becomes an invoker. Without it: --no-iap.",
        ),
    ] = False,
    iap_member: Annotated[
        list[str],
        typer.Option(
            "--iap-member",
            metavar="MEMBER",
            help="user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN who may pass IAP "
            "(roles/iap.httpsResourceAccessor), and nobody else; repeatable.",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    iap_audience: Annotated[
        str | None,
        typer.Option(
            "--iap-audience",
            help="CLOUDGATE_IAP_AUDIENCE if the service's IAP assertions carry another aud than "
            "/projects/NUMBER/locations/REGION/services/SERVICE (the form reported for IAP on Cloud Run).",
            show_default=False,
        ),
    ] = None,
    custom_audience: Annotated[
        list[str], typer.Option("--custom-audience", help="Also accept ID tokens for this audience; repeatable.")
    ] = [],  # noqa: B006
    env: Annotated[
        list[str], typer.Option("--env", metavar="KEY=VALUE", help="A plain env var (never a secret); repeatable.")
    ] = [],  # noqa: B006
    command: Annotated[
        list[str],
        typer.Option("--command", help="The container's entrypoint, one item per flag (default: the image's)."),
    ] = [],  # noqa: B006
    args: Annotated[
        list[str], typer.Option("--args", help="Arguments to the entrypoint, one per flag (--args=-c).")
    ] = [],  # noqa: B006
    emulator: Annotated[
        bool, typer.Option("--emulator", help="Deploy to the running local emulator (cloudgate emulator run).")
    ] = False,
    emulator_state_dir: Annotated[
        Path, typer.Option("--emulator-state-dir", help="The emulator's state folder (with --emulator).")
    ] = Path(".cloudgate/emulator"),
    app: Annotated[
        str | None,
        typer.Option("--app", help="With --emulator --source: the app `cloudgate serve` runs.", show_default=False),
    ] = None,
    health_path: Annotated[str, typer.Option("--health-path", help="Route the smoke test calls.")] = "/health",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read the project, print this run's gcloud commands; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove invokers nobody named without asking.")] = False,
    **settings: str | None,
) -> None:
    """(``settings``: one option per row of ``fields.FIELDS``, added to the signature by ``_field_options``.)"""
    from cloudgate.deploy.gcloud import Gcloud
    from cloudgate.deploy.options import DeployOptions, parse_env
    from cloudgate.deploy.runner import Deployer
    from cloudgate.deploy.source import source_tag

    if image is None and source is None:
        source = Path(".")  # as `gcloud run deploy` does
    if source is not None and not source.is_dir():
        raise ConfigError(f"--source {source}: not a folder")
    gcloud_env: dict[str, str] | None = None
    iap_jwks_url: str | None = None
    if emulator:
        from cloudgate.cli.deploy_emulator import emulator_gcloud_env, emulator_iap_jwks_url, local_command

        gcloud_env = emulator_gcloud_env(emulator_state_dir, region)
        iap_jwks_url = emulator_iap_jwks_url(emulator_state_dir) if iap else None
        project = project or gcloud_env["CLOUDSDK_CORE_PROJECT"]
        region = region or gcloud_env["CLOUDSDK_RUN_REGION"]
        if source is not None and image is None and not local_build:
            image, revision_command, revision_args = local_command(source, app)
            command, args, source = [*revision_command], [*revision_args], None
    runner = Gcloud(gcloud_env)
    project = project or runner.config_value("core/project") or ""
    options = DeployOptions(
        project=project,
        region=region or runner.config_value("run/region") or "",
        service=service,
        image=image,
        source=source,
        local_build=local_build,
        image_tag=source_tag(source) if source is not None and source.is_dir() else "latest",
        service_account=service_account,
        allow_default_service_account=allow_default_service_account,
        invokers=tuple(invoker),
        docs_users_file=docs_users_file,
        keys_file=keys_file,
        settings=tuple((field.name, value) for field in FIELDS if (value := settings[_param(field)]) is not None),
        http2=http2,
        custom_audiences=tuple(custom_audience),
        env=parse_env(env),
        command=tuple(command),
        args=tuple(args),
        builder=_builder() if local_build else "podman",
        iap=iap,
        iap_members=tuple(iap_member),
        project_number=_project_number(runner, project, dry_run=dry_run) if iap else None,
        iap_audience_override=iap_audience,
        iap_jwks_url=iap_jwks_url,
    )
    if dry_run:
        for line in _plan_lines(options, runner, health_path):
            typer.echo(line)
        return
    if not options.invokers:
        typer.echo("warning: no --invoker: nobody will be able to call the service", err=True)
    if options.iap and not options.iap_members:
        typer.echo("warning: --iap without --iap-member: nobody will be able to pass IAP", err=True)
    deployer = Deployer(
        options,
        runner,
        echo=lambda line: typer.echo(line, err=True),
        confirm=lambda members: _confirm(members, yes),
        health_path=health_path,
    )
    result = deployer.run()
    for note in result.notes:
        typer.echo(f"  {note}", err=True)
    typer.echo(result.url or "")


def _plan_lines(options: DeployOptions, runner: Gcloud, health_path: str) -> list[str]:
    """This run's plan: observed with read-only gcloud calls (against an empty project when gcloud cannot read)."""
    from cloudgate.deploy import plan
    from cloudgate.deploy.gcloud import GcloudError
    from cloudgate.deploy.observe import observe
    from cloudgate.deploy.runner import refuse_planted_secrets

    try:
        observed = observe(options, runner)
    except GcloudError as exc:
        typer.echo(
            f"warning: could not read the project ({exc}); this is the plan for a project where nothing exists yet",
            err=True,
        )
        observed = plan.Observed()
    refuse_planted_secrets(options, observed)  # the run would refuse: so does its plan
    return plan.render(plan.steps(options, observed, health_path))


def _confirm(members: list[str], yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    shown = ", ".join(members)
    return typer.confirm(f"{shown} hold access that was not named (--invoker, --iap-member). Remove them?")


def _project_number(runner: Gcloud, project: str, *, dry_run: bool) -> str | None:
    """The project's number for ``--iap`` (IAP's agent and audience name it); ``None`` without a project, or in a
    dry run that cannot read it (the plan then shows ``PROJECT_NUMBER``)."""
    from cloudgate.deploy.gcloud import GcloudError
    from cloudgate.deploy.observe import read_project_number
    from cloudgate.errors import DeployError

    if not project:
        return None  # DeployOptions says a project is needed
    try:
        return read_project_number(runner, project)
    except GcloudError as exc:
        if dry_run:
            typer.echo(f"warning: could not read project {project}'s number ({exc}); shown as PROJECT_NUMBER", err=True)
            return None
        raise DeployError(f"--iap needs project {project}'s number: gcloud projects describe failed ({exc})") from exc


def _builder() -> str:
    for tool in _BUILDERS:
        if shutil.which(tool):
            return tool
    raise ConfigError("--local-build needs buildah, podman or docker on the PATH")


def _param(field: Field) -> str:
    return field.name.replace("-", "_")


def _field_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with one ``--NAME`` option per row of ``FIELDS`` in place of its ``**settings``."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [
        inspect.Parameter(
            _param(field),
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[str | None, typer.Option(field.option, help=field.help, show_default=False)],
        )
        for field in FIELDS
    ]
    command.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return command


def register(root: typer.Typer) -> None:
    root.command("deploy", help=_HELP)(_field_options(deploy))
