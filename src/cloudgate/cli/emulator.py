"""``cloudgate emulator``: run Google's side on localhost and inspect or change its state.

While an emulator runs on the state folder, the commands that change the state ask it to (its admin API), so that
it is the one writer of its state; with none running they change the folder themselves (``emulator_changes.py``).

Examples::

    cloudgate emulator accounts create ci-caller
    cloudgate emulator accounts key ci-caller --out ci-caller-key.json
    cloudgate emulator services grant dev serviceAccount:ci-caller@cloudgate-local.iam.gserviceaccount.com
    cloudgate emulator run --service-port 8080 -- python -m cloudgate.emulator.serving.echo
    gcloud run services describe dev    # after eval "$(cloudgate emulator gcloud-env)"
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer

from cloudgate.cli.emulator_changes import DEFAULT_EMULATOR_URL, apply_change, rotate_signing_key
from cloudgate.log_lines import configure_text_logging

emulator = typer.Typer(
    help="Google's side on localhost: token endpoint, certs, metadata server, IAM Credentials, the Cloud Run front end, "
    "and the control plane gcloud talks to (Cloud Run admin, IAM service accounts and keys, Secret Manager)."
)
accounts = typer.Typer(help="Service accounts and their key files.")
users = typer.Typer(help="Users (gcloud application-default style credentials).")
services = typer.Typer(help="Cloud Run services: URL, custom audiences, invoker bindings.")
emulator.add_typer(accounts, name="accounts")
emulator.add_typer(users, name="users")
project = typer.Typer(help="The emulated project's IAM policy.")
emulator.add_typer(services, name="services")
emulator.add_typer(project, name="project")

_ACCOUNT_HELP = "The service account: its id (6-30 characters: lowercase letters, digits, dashes) or its email."
AccountId = typer.Argument(..., metavar="ACCOUNT", help=_ACCOUNT_HELP, show_default=False)
Member = typer.Argument(..., help="Who: serviceAccount:EMAIL, user:EMAIL, allUsers or allAuthenticatedUsers.")
ServiceName = typer.Argument(..., metavar="NAME", help="The Cloud Run service's name, e.g. dev or api.")
StateDir = typer.Option(Path(".cloudgate/emulator"), "--state-dir", help="The emulator's state folder.")
EmulatorUrl = typer.Option(
    None,
    "--emulator-url",
    help=f"Where the emulator answers (goes into key files); default: the one running on --state-dir, else {DEFAULT_EMULATOR_URL}.",
    show_default=False,
)


def _token_uri(emulator_url: str | None) -> dict[str, str]:
    """The token endpoint a key file names, when --emulator-url gives it (else the running emulator's, or the
    default address when none runs)."""
    return {"token_uri": f"{emulator_url.rstrip('/')}/token"} if emulator_url else {}


def _store(state_dir: Path) -> Any:
    from cloudgate.emulator.core.state import StateStore

    return StateStore(state_dir)


def _write_secret_file(path: Path, data: dict[str, Any]) -> None:
    """Write a credentials file readable by its owner only, from its first byte: a new file (mode 0600) replaces
    the old one at once, so no reader ever sees it half written or with an older file's wider mode."""
    from cloudgate.emulator.core.secret_store import write_private

    write_private(path, json.dumps(data, indent=2).encode())


@emulator.command("run")
def run(
    command: list[str] = typer.Argument(None, help="The service command (after --); it must listen on $PORT."),
    state_dir: Path = StateDir,
    host: str = typer.Option("127.0.0.1", help="Interface to bind (keep 127.0.0.1: the admin API is local-only)."),
    port: int = typer.Option(8089, help="Port of Google's endpoints (token, certs, IAM, metadata, admin)."),
    service_name: str = typer.Option("dev", help="Name of the service behind the front end."),
    service_port: int = typer.Option(8080, help="Port of the Cloud Run front end."),
    upstream: str | None = typer.Option(None, help="Front an already running service at this URL instead."),
    audience: list[str] = typer.Option([], help="Custom audience accepted besides the service URL."),
    timeout: int = typer.Option(300, min=1, max=3600, help="Request timeout in seconds (Cloud Run's default: 300)."),
    min_instances: int | None = typer.Option(None, min=0, max=100, help="Scale out: instances kept when idle."),
    max_instances: int | None = typer.Option(None, min=1, max=100, help="Scale out: most instances under load."),
    concurrency: int | None = typer.Option(None, min=1, max=1000, help="Requests one instance takes at once (80)."),
    idle_seconds: float = typer.Option(
        60, min=0.1, help="Idle time before an instance above its revision's minimum stops (every service)."
    ),
    http2: bool = typer.Option(
        False, "--http2", help="The service speaks h2c (`--use-http2`): no 32 MiB caps at the front end."
    ),
) -> None:
    """Run the emulator; with a command or --upstream, also deploy that service behind a Cloud Run front end.

    The service is a Cloud Run service like any other (`gcloud run services list` shows it): the command runs as
    its revision's instances, one by default; --min-instances/--max-instances/--concurrency scale it out, each
    instance its own process with its own TMPDIR (see GET /admin/instances and the counters).
    """
    from cloudgate.cli import emulated_service
    from cloudgate.emulator.server import run as run_emulator
    from cloudgate.emulator.serving.listeners import bind
    from cloudgate.errors import ConfigError

    if command and upstream:
        raise ConfigError("give a command (after --) or --upstream URL, not both")
    checks = [(port, "--port"), *([(service_port, "--service-port")] if command or upstream else [])]
    for taken, flag in checks:
        bind(host, taken, flag=flag).close()  # a taken port fails here, naming the option that moves it

    configure_text_logging(logging.INFO)  # one line per record: a request path cannot forge one
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied request is noise
    service = None
    if command or upstream:
        if command:
            scale = emulated_service.scale_flags(None, min_instances, max_instances, concurrency)
            container = emulated_service.local_command(command)
        else:  # one instance that is the running service: as many requests at once as Cloud Run allows
            scale, container = emulated_service.Scale(1, 1, 1000), emulated_service.upstream(str(upstream))
        service = emulated_service.knative_service(
            service_name, container, scale=scale, http2=http2, timeout_seconds=timeout, audiences=audience,
            made_by="cloudgate emulator run",
        )  # fmt: skip

    async def ready(ctx: Any) -> None:
        typer.echo(f"emulator: {ctx.base_url} (token {ctx.token_url}, certs {ctx.certs_url})", err=True)
        if service is not None:
            deployed = await emulated_service.deploy(ctx.base_url, service_name, service_port, service)
            typer.echo(f"service {service_name}: {deployed['status']['url']}", err=True)

    run_emulator(state_dir, host=host, port=port, idle_seconds=idle_seconds, on_ready=ready)


@emulator.command("show")
def show(state_dir: Path = StateDir) -> None:
    """Print the state (accounts with public keys, users, services, bindings) as JSON."""
    state = _store(state_dir).current().to_json()
    state["users"] = sorted(state["users"])
    typer.echo(json.dumps(state, indent=2, sort_keys=True))


@emulator.command("settings")
def settings(
    state_dir: Path = StateDir,
    token_lifetime: int | None = typer.Option(None, help="ID token lifetime in seconds, 1 to 43200 (Google: 3600)."),
    metadata_account: str | None = typer.Option(None, help="The account the metadata server runs as."),
    project: str | None = typer.Option(None, help="The emulated project id."),
    iam_propagation_seconds: float | None = typer.Option(
        None, help="How long an IAM change takes to apply, 0 to 3600 (default 0: at once; Google: seconds to minutes)."
    ),
) -> None:
    """Change the emulator's settings (through the running emulator, if one runs on --state-dir)."""
    flags = {
        "token_lifetime_seconds": token_lifetime,
        "metadata_account": metadata_account,
        "project_id": project,
        "iam_propagation_seconds": iam_propagation_seconds,
    }
    apply_change(state_dir, "settings", {key: value for key, value in flags.items() if value is not None})
    typer.echo("settings saved", err=True)


@emulator.command("rotate-keys")
def rotate_keys(state_dir: Path = StateDir) -> None:
    """Make a new signing key (the previous one stays published); prints its kid."""
    typer.echo(rotate_signing_key(state_dir))


@accounts.command("create")
def accounts_create(
    account_id: str = AccountId,
    group: list[str] = typer.Option([], "--group", help="A group the account is in (created if new; repeatable)."),
    state_dir: Path = StateDir,
) -> None:
    """Create a service account (an id like `ci-caller`), optionally in directory groups; prints its email."""
    typer.echo(apply_change(state_dir, "accounts create", {"account": account_id, "groups": group})["email"])


@accounts.command("key")
def accounts_key(
    account: str = AccountId,
    out: Path = typer.Option(..., "--out", help="Where to write the key file (mode 0600)."),
    state_dir: Path = StateDir,
    emulator_url: str | None = EmulatorUrl,
) -> None:
    """Create a key for ACCOUNT and write its key file (type service_account, token_uri at the emulator)."""
    key_file = apply_change(state_dir, "accounts key", {"account": account, **_token_uri(emulator_url)})
    _write_secret_file(out, key_file)
    typer.echo(f"key {key_file['private_key_id']} written to {out}", err=True)


@accounts.command("grant")
def accounts_grant(
    account: str = AccountId,
    member: str = Member,
    role: str = typer.Option("roles/iam.serviceAccountTokenCreator", help="Role to bind on the account."),
    state_dir: Path = StateDir,
) -> None:
    """Let MEMBER (user:EMAIL, serviceAccount:EMAIL) act on ACCOUNT, e.g. impersonate it."""
    apply_change(state_dir, "accounts grant", {"account": account, "member": member, "role": role})
    typer.echo(f"{member} has {role} on {account}", err=True)


@users.command("create")
def users_create(
    email: str = typer.Argument(..., help="The user's email, e.g. alice@example.com."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the authorized_user file (mode 0600)."),
    group: list[str] = typer.Option([], "--group", help="A group the user is in (created if new; repeat for more)."),
    state_dir: Path = StateDir,
    emulator_url: str | None = EmulatorUrl,
) -> None:
    """Create a directory user (its domain is its email's), in --group groups; with --out, write its
    authorized_user credentials (gcloud's OAuth client, as after `gcloud auth login`)."""
    credentials = apply_change(state_dir, "users create", {"email": email, "groups": group, **_token_uri(emulator_url)})
    if out is not None:
        _write_secret_file(out, credentials)
        typer.echo(f"credentials of {email} written to {out}", err=True)
    typer.echo(f"user {email} created" + (f" in {', '.join(group)}" if group else ""), err=True)


@services.command("set")
def services_set(
    name: str = ServiceName,
    url: str = typer.Option(..., help="The service URL (always an accepted audience)."),
    audience: list[str] = typer.Option([], help="A custom audience (repeat for more)."),
    timeout: float = typer.Option(300, help="Request timeout in seconds."),
    http2: bool = typer.Option(False, "--http2", help="The service speaks h2c (`--use-http2`): no 32 MiB caps."),
    state_dir: Path = StateDir,
) -> None:
    """Create or update a service."""
    body = {"name": name, "url": url, "audiences": audience, "timeout_seconds": timeout, "http2": http2}
    apply_change(state_dir, "services set", body)


@services.command("grant")
def services_grant(
    name: str = ServiceName,
    member: str = Member,
    role: str = typer.Option("roles/run.invoker", help="Role to bind on the service."),
    state_dir: Path = StateDir,
) -> None:
    """Bind MEMBER (serviceAccount:EMAIL, user:EMAIL, allUsers) to a role on service NAME."""
    apply_change(state_dir, "services grant", {"name": name, "member": member, "role": role})
    typer.echo(f"{member} has {role} on {name}", err=True)


@services.command("revoke")
def services_revoke(
    name: str = ServiceName,
    member: str = Member,
    role: str = typer.Option("roles/run.invoker", help="Role to unbind."),
    state_dir: Path = StateDir,
) -> None:
    """Remove MEMBER's binding to a role on service NAME."""
    apply_change(state_dir, "services revoke", {"name": name, "member": member, "role": role})
    typer.echo(f"{member} no longer has {role} on {name}", err=True)


@emulator.command("gcloud-env")
def gcloud_env(
    state_dir: Path = StateDir,
    emulator_url: str | None = typer.Option(
        None, "--emulator", help="The running emulator's URL (default: the one running on --state-dir)."
    ),
    config_dir: Path | None = typer.Option(
        None, "--config-dir", help="gcloud's config folder to use (default: a new temporary folder)."
    ),
    region: str = typer.Option("us-central1", help="The default Cloud Run region (run/region)."),
) -> None:
    """Print the `export ...` lines that make gcloud use the running emulator, with a throwaway config.

    Use it as `eval "$(cloudgate emulator gcloud-env)"`; the machine's own gcloud config is never touched. It also
    prints HTTPS_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, gcloud's custom CA file, grpc_proxy and
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH for the emulator's HTTPS proxy, so google-auth and Google's client libraries
    (REST or gRPC) reach the emulator unmodified.
    """
    import tempfile

    import httpx

    from cloudgate.emulator.core.state import read_address
    from cloudgate.emulator.gcloud_env import export_lines, gcloud_environment, prepare_config
    from cloudgate.emulator.tls_proxy import read_proxy_address
    from cloudgate.errors import EmulatorError

    url = emulator_url or read_address(state_dir)
    if url is None:
        raise EmulatorError(
            f"no emulator is running on {state_dir}: start one with `cloudgate emulator run`, or give --emulator URL"
        )
    try:
        answer = httpx.post(f"{url.rstrip('/')}/admin/gcloud-credentials", timeout=30, trust_env=False)
        answer.raise_for_status()
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise EmulatorError(f"the emulator at {url} did not hand out gcloud credentials: {exc}") from exc
    folder = config_dir or Path(tempfile.mkdtemp(prefix="cloudgate-gcloud-"))
    key_path = prepare_config(folder, body["key_file"])
    proxy = read_proxy_address(state_dir)
    ca_file = state_dir / "ca" / "ca.pem"
    try:
        env = gcloud_environment(
            url, folder, key_path, body["project"], region=region, https_proxy=proxy, ca_file=ca_file.resolve()
        )
    except ValueError as exc:
        raise EmulatorError(str(exc)) from exc
    typer.echo(export_lines(env), nl=False)
    typer.echo(f"# gcloud now talks to the emulator at {url} (config: {folder})", err=True)


@project.command("grant")
def project_grant(
    member: str = Member,
    role: str = typer.Option(..., help="The project role, e.g. roles/run.admin."),
    state_dir: Path = StateDir,
) -> None:
    """Bind MEMBER (serviceAccount:EMAIL, user:EMAIL) to a role on the emulated project."""
    apply_change(state_dir, "project grant", {"member": member, "role": role})
    typer.echo(f"{member} has {role} on the project", err=True)


def register(root: typer.Typer) -> None:
    root.add_typer(emulator, name="emulator")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(emulator())
