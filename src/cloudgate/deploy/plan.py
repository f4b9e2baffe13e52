"""The deploy as data: for each step, the gcloud commands that bring the project to what was asked. No I/O.

Each step is computed from the options and what was read from the project just before it runs (``Observed``),
so a step whose work is already done yields no commands: that is what makes a second run say "no changes".
``steps(options, observed)`` is the one list the runner executes, ``--dry-run`` prints (against what it observed,
read-only) and the tests check; ``STEPS`` is its table: 1 runtime service account, 2 secrets, 3 image,
4 ``gcloud run deploy`` (``gcloud beta run deploy --iap`` with IAP), 5 invokers (IAP's service agent among them with
IAP), 6 who may pass IAP; 7 (read back) and 8 (smoke test) check the result and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.commands import Command, gcloud
from cloudgate.deploy.fields import BY_NAME
from cloudgate.deploy.options import DeployOptions
from cloudgate.errors import ConfigError
from cloudgate.google import IAP_ACCESSOR_ROLE, IAP_CLOUD_RUN_RESOURCE_TYPE, INVOKER_ROLE

SECRET_ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name
Commands = tuple[Command, ...]


@dataclass(frozen=True)
class SecretState:
    """A Secret Manager secret as read: whether its latest version holds the local file's bytes, who may read it."""

    exists: bool = False
    current: bool = False
    accessors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Observed:
    """What the project holds, as far as the plan needs it. The default is a project where nothing exists."""

    account_exists: bool = False
    secrets: Mapping[str, SecretState] = field(default_factory=dict)
    repository_exists: bool = False
    image_exists: bool = False
    service: spec.Json | None = None
    policy: spec.Json = field(default_factory=dict)
    #: The service's IAP policy (``gcloud beta iap web get-iam-policy``), read with ``--iap``.
    iap_policy: spec.Json = field(default_factory=dict)


def _where(options: DeployOptions) -> tuple[str, str]:
    return f"--project={options.project}", f"--region={options.region}"


def account_step(options: DeployOptions, observed: Observed) -> Commands:
    """Create the runtime account (with no project roles) if it is ours to create and missing."""
    if observed.account_exists or not options.account_is_project_owned:
        return ()
    account_id = options.runtime_account.split("@", 1)[0]
    create = gcloud(
        "iam",
        "service-accounts",
        "create",
        account_id,
        f"--project={options.project}",
        f"--display-name=Cloud Run runtime of {options.service}",
    )
    return (create,)


def secrets_step(options: DeployOptions, observed: Observed) -> Commands:
    """Each secret exists, its latest version is the local file, and only the runtime account is added as reader."""
    commands: list[Command] = []
    member = f"serviceAccount:{options.runtime_account}"
    project = f"--project={options.project}"
    for name, path, _mount in options.secrets:
        state = observed.secrets.get(name, SecretState())
        if not state.exists:
            commands.append(gcloud("secrets", "create", name, project, "--replication-policy=automatic"))
        if not state.current:
            # The file's path, never its content, is on argv.
            commands.append(gcloud("secrets", "versions", "add", name, project, f"--data-file={path}"))
        if member not in state.accessors:
            commands.append(
                gcloud(
                    "secrets",
                    "add-iam-policy-binding",
                    name,
                    project,
                    f"--member={member}",
                    f"--role={SECRET_ACCESSOR_ROLE}",
                )
            )
    return tuple(commands)


def image_step(options: DeployOptions, observed: Observed) -> Commands:
    """Build and push the image unless ``--image`` was given or this source's image is already there."""
    if options.source is None or observed.image_exists:
        return ()
    commands: list[Command] = []
    if not observed.repository_exists:
        commands.append(
            gcloud(
                "artifacts",
                "repositories",
                "create",
                options.repository,
                f"--project={options.project}",
                f"--location={options.region}",
                "--repository-format=docker",
            )
        )
    image, source = options.image_uri, str(options.source)
    if not options.local_build:
        commands.append(gcloud("builds", "submit", source, f"--project={options.project}", f"--tag={image}"))
        return tuple(commands)
    tool = options.builder
    # The access token goes through a pipe to `login --password-stdin`, never on argv.
    token = Command(("gcloud", "auth", "print-access-token", "--quiet"))
    commands += [
        Command((tool, "build", f"--tag={image}", source), local=True),
        Command((tool, "login", "--username=oauth2accesstoken", "--password-stdin", options.registry_host), token),
        Command((tool, "push", image)),
    ]
    return tuple(commands)


def desired_env(options: DeployOptions) -> dict[str, str]:
    """Every literal env var of the revision: cloudgate's own, then ``--env``.

    No ``CLOUDGATE_AUDIENCES``: in ``cloud-run`` mode the claims arrive unsigned, so checking ``aud`` again in the
    container proves nothing that Cloud Run's own check (the service's URLs and custom audiences) did not, and it
    would refuse tokens Cloud Run accepts: plain ``gcloud auth print-identity-token`` tokens and the service's other
    URL form. It would also need the URL, known only after the first deploy (a second revision).
    """
    env = {"CLOUDGATE_IDENTITY": "cloud-run"}
    if options.http2:
        # --use-http2 makes Cloud Run speak h2c to the container: cloudgate serve must answer it (granian).
        env["CLOUDGATE_HTTP2"] = "true"
    for name, _path, mount in options.secrets:
        if name == options.docs_users_secret:
            env["CLOUDGATE_DOCS_USERS_FILE"] = mount
        else:
            env["CLOUDGATE_KEYSTORE"] = f"file://{mount}"
    if options.iap_audience is not None:
        # Set explicitly, never derived by the service: the audience form is a reported one (docs/identity.md).
        env["CLOUDGATE_IAP_AUDIENCE"] = options.iap_audience
        if options.iap_jwks_url:
            env["CLOUDGATE_IAP_JWKS_URL"] = options.iap_jwks_url
    env.update(options.env)
    return env


def service_differences(options: DeployOptions, service: spec.Json) -> list[str]:
    """What differs between the described service and what was asked; empty when a deploy would change nothing."""
    found = []
    if spec.image(service) != options.image_uri:
        found.append(f"image {spec.image(service)} -> {options.image_uri}")
    if spec.service_account(service) != options.runtime_account:
        found.append(f"runtime account {spec.service_account(service)} -> {options.runtime_account}")
    if spec.plain_env(service) != desired_env(options):
        found.append("environment variables")
    wanted = {(name, "latest", mount) for name, _path, mount in options.secrets}
    have = {(ref.secret, ref.version, ref.path or f"env:{ref.env}") for ref in spec.secret_refs(service)}
    if have != wanted:
        found.append("secrets")
    box = spec.container(service)
    if (list(box.get("command") or []), list(box.get("args") or [])) != (list(options.command), list(options.args)):
        found.append("command or args")
    if spec.custom_audiences(service) != list(options.custom_audiences):
        found.append("custom audiences")
    if spec.iam_check_disabled(service):
        found.append("invoker IAM check is off")
    if spec.uses_http2(service) != options.http2:
        found.append("HTTP/2")
    if spec.iap_enabled(service) != options.iap:
        found.append("IAP off -> on" if options.iap else "IAP on -> off")
    for name, value in options.settings:
        difference = BY_NAME[name].difference(value, service)
        if difference is not None:
            found.append(difference)
    return found


def deploy_step(options: DeployOptions, observed: Observed) -> Commands:
    """``gcloud run deploy`` when the service is missing or differs; then all traffic to the latest revision when
    someone pinned it to older ones by hand (``gcloud run deploy`` keeps a pin: the new revision would serve 0%)."""
    service = observed.service
    deploy = () if service is not None and not service_differences(options, service) else (_deploy(options, service),)
    if service is None or spec.traffic_on_latest(service):
        return deploy
    return (*deploy, gcloud("run", "services", "update-traffic", options.service, *_where(options), "--to-latest"))


def _deploy(options: DeployOptions, service: spec.Json | None) -> Command:
    # --iap/--no-iap exist on the beta track only (gcloud 528); --no-iap only where IAP is on now.
    iap_flag = "--iap" if options.iap else "--no-iap" if service is not None and spec.iap_enabled(service) else None
    argv = [
        *(("beta",) if iap_flag else ()),
        "run",
        "deploy",
        options.service,
        *_where(options),
        f"--image={options.image_uri}",
        "--no-allow-unauthenticated",
        "--invoker-iam-check",
        f"--service-account={options.runtime_account}",
        f"--set-env-vars={_env_flag(desired_env(options))}",
    ]
    if options.secrets:
        argv.append("--set-secrets=" + ",".join(f"{mount}={name}:latest" for name, _path, mount in options.secrets))
    elif service is not None and spec.secret_refs(service):
        argv.append("--clear-secrets")
    for flag, values in (("command", options.command), ("args", options.args)):
        if values:
            argv.append(f"--{flag}={_list_flag(values)}")
        elif service is not None and spec.container(service).get(flag):
            argv.append(f"--{flag}=")  # an empty list: back to the image's own
    if options.custom_audiences:
        argv.append("--set-custom-audiences=" + ",".join(options.custom_audiences))
    elif service is not None and spec.custom_audiences(service):
        argv.append("--clear-custom-audiences")
    argv += [BY_NAME[name].argv(value) for name, value in options.settings]
    argv.append("--use-http2" if options.http2 else "--no-use-http2")
    if iap_flag:
        argv.append(iap_flag)  # gcloud also grants (or removes) IAP's service agent roles/run.invoker
    return gcloud(*argv)


def unwanted_invokers(options: DeployOptions, policy: spec.Json) -> list[str]:
    """Invokers nobody named (``allUsers``, ``allAuthenticatedUsers`` and anyone else), in a stable order."""
    return sorted(spec.policy_members(policy, INVOKER_ROLE) - set(options.invoker_members))


_IAP_AGENT = re.compile(r"^serviceAccount:service-\d+@gcp-sa-iap\.iam\.gserviceaccount\.com$")


def retiring_iap_agents(options: DeployOptions, observed: Observed) -> set[str]:
    """IAP's service agent among the invokers of a service whose IAP this deploy turns off: ``--no-iap`` removes
    its invoker role itself, so removing it needs no confirmation."""
    if options.iap or observed.service is None or not spec.iap_enabled(observed.service):
        return set()
    return {m for m in spec.policy_members(observed.policy, INVOKER_ROLE) if _IAP_AGENT.match(m)}


def invokers_step(options: DeployOptions, observed: Observed) -> Commands:
    """Grant ``roles/run.invoker`` to each named member (and IAP's agent with IAP) and remove every other invoker."""
    present = spec.policy_members(observed.policy, INVOKER_ROLE)
    commands = []
    for verb, members in (
        ("add", [m for m in options.invoker_members if m not in present]),
        ("remove", unwanted_invokers(options, observed.policy)),
    ):
        for member in members:
            commands.append(
                gcloud(
                    "run",
                    "services",
                    f"{verb}-iam-policy-binding",
                    options.service,
                    *_where(options),
                    f"--member={member}",
                    f"--role={INVOKER_ROLE}",
                )
            )
    return tuple(commands)


def iap_web_where(service: str, project: str, region: str) -> tuple[str, ...]:
    """The IAP resource of a Cloud Run service, as ``gcloud beta iap web ...`` names it."""
    return (f"--resource-type={IAP_CLOUD_RUN_RESOURCE_TYPE}", f"--service={service}", f"--project={project}",
            f"--region={region}")  # fmt: skip


def unwanted_accessors(options: DeployOptions, iap_policy: spec.Json) -> list[str]:
    """Who may pass IAP without being named with ``--iap-member``, in a stable order (none without ``--iap``)."""
    if not options.iap:
        return []
    return sorted(spec.policy_members(iap_policy, IAP_ACCESSOR_ROLE) - set(options.iap_members))


def iap_access_step(options: DeployOptions, observed: Observed) -> Commands:
    """With ``--iap``: grant IAP's accessor role to each ``--iap-member`` and remove it from everyone else."""
    if not options.iap:
        return ()
    present = spec.policy_members(observed.iap_policy, IAP_ACCESSOR_ROLE)
    where = iap_web_where(options.service, options.project, options.region)
    return tuple(
        gcloud(
            "beta",
            "iap",
            "web",
            f"{verb}-iam-policy-binding",
            *where,
            f"--member={member}",
            f"--role={IAP_ACCESSOR_ROLE}",
        )
        for verb, members in (
            ("add", [m for m in options.iap_members if m not in present]),
            ("remove", unwanted_accessors(options, observed.iap_policy)),
        )
        for member in members
    )


def readback_commands(options: DeployOptions) -> tuple[Command, ...]:
    """What the read-back step reads (also what a user can run to check by hand)."""
    where = _where(options)
    iap = (iap_policy_command(options.service, options.project, options.region),) if options.iap else ()
    return (
        gcloud("run", "services", "describe", options.service, *where, "--format=json"),
        gcloud("run", "services", "get-iam-policy", options.service, *where, "--format=json"),
        *iap,
    )


def iap_policy_command(service: str, project: str, region: str) -> Command:
    """``gcloud beta iap web get-iam-policy`` of a Cloud Run service's IAP resource."""
    return gcloud("beta", "iap", "web", "get-iam-policy", *iap_web_where(service, project, region), "--format=json")


def _env_flag(env: Mapping[str, str]) -> str:
    """``--set-env-vars`` value."""
    return _list_flag([f"{k}={v}" for k, v in env.items()])


def _list_flag(pairs: Sequence[str]) -> str:
    """A gcloud list flag's value; gcloud's ``^D^`` prefix picks another delimiter when an item holds a comma."""
    if not any("," in pair for pair in pairs):
        return ",".join(pairs)
    delimiter = next((d for d in "@|;#~" if not any(d in pair for pair in pairs)), None)
    if delimiter is None:
        raise ConfigError("a value holds a comma and every delimiter gcloud could use instead (@ | ; # ~)")
    return f"^{delimiter}^" + delimiter.join(pairs)


def readback_step(options: DeployOptions, observed: Observed) -> Commands:
    """What step 6 reads (also what a user can run to check by hand)."""
    return readback_commands(options)


@dataclass(frozen=True)
class StepKind:
    title: str
    make: Callable[[DeployOptions, Observed], Commands]
    #: Reads and checks only: its commands change nothing (steps 6 and 7).
    checks: bool = False


def _no_commands(options: DeployOptions, observed: Observed) -> Commands:
    return ()


STEPS: tuple[StepKind, ...] = (
    StepKind("runtime service account", account_step),
    StepKind("secrets", secrets_step),
    StepKind("image", image_step),
    StepKind("deploy", deploy_step),
    StepKind("invokers", invokers_step),
    StepKind("IAP access", iap_access_step),
    StepKind("read back", readback_step, checks=True),
    StepKind("smoke test", _no_commands, checks=True),
)
TOTAL = len(STEPS)
INVOKERS, IAP_ACCESS, READ_BACK, SMOKE_TEST = (
    1 + [kind.make for kind in STEPS].index(make)
    for make in (invokers_step, iap_access_step, readback_step, _no_commands)
)


def label(number: int) -> str:
    """``[7/8] read back``: how progress lines and ``--dry-run`` name a step."""
    return f"[{number}/{TOTAL}] {STEPS[number - 1].title}"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    commands: Commands
    checks: bool = False
    #: A line that says what the step does when its commands do not (``--image`` given, the smoke test's calls).
    note: str | None = None

    @property
    def label(self) -> str:
        return label(self.number)


def step(number: int, options: DeployOptions, observed: Observed, health_path: str = "/health") -> Step:
    kind = STEPS[number - 1]
    commands = kind.make(options, observed)
    note = None
    if kind.make is image_step and options.source is None:
        note = f"using --image {options.image_uri}"
    elif kind.make is readback_step:
        note = "cloudgate checks these; gcloud's exit codes are not proof"
    elif kind.checks:
        note = f"GET <service URL>{health_path} with an invoker's ID token (200), without (403)"
    return Step(number, kind.title, commands, kind.checks, note)


def steps(options: DeployOptions, observed: Observed, health_path: str = "/health") -> list[Step]:
    """Every step of a deploy of ``options`` onto ``observed``, in order."""
    return [step(number, options, observed, health_path) for number in range(1, TOTAL + 1)]


def render(planned: Sequence[Step]) -> list[str]:
    """The plan as bash lines: a comment per step (``no changes`` where it has nothing to do), then its commands."""
    lines: list[str] = []
    for each in planned:
        lines.append(f"# {each.label}")
        if each.note:
            lines.append(f"# {each.note}")
        elif not each.commands and not each.checks:
            lines.append("# no changes")
        lines += [command.shell() for command in each.commands]
    if not any(each.commands for each in planned if not each.checks):
        lines.append("# no changes: the service already is what was asked")
    return lines
