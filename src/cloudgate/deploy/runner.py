"""Running a deploy: observe, confirm, then steps 1-5 (each skipped when already done), read back, smoke test.

Progress goes to ``echo`` one line per step. A failed step raises ``DeployError`` saying what failed, what
was already done and how to resume (run the same command again: every step starts by checking what exists).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cloudgate.deploy import plan
from cloudgate.deploy import service_spec as spec
from cloudgate.deploy.commands import Command, gcloud
from cloudgate.deploy.gcloud import Gcloud, GcloudError
from cloudgate.deploy.observe import observe, read_iap_policy, read_policy, read_project_policy, read_service
from cloudgate.deploy.options import DeployOptions
from cloudgate.deploy.readback import check_deployment, planted_secrets
from cloudgate.deploy.smoke import smoke_test
from cloudgate.errors import DeployError

_RESUME = "to resume, run the same `cloudgate deploy` command again: steps already done are skipped"


@dataclass
class DeployResult:
    """What a run did: the commands run (``changed`` is False when there were none), the URL, the notes."""

    url: str | None = None
    ran: list[Command] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.ran)


class Deployer:
    """One deploy of ``options`` through ``runner``. ``confirm`` is asked before removing unnamed invokers."""

    def __init__(
        self,
        options: DeployOptions,
        runner: Gcloud,
        *,
        echo: Callable[[str], None],
        confirm: Callable[[list[str]], bool],
        health_path: str = "/health",
        smoke: bool = True,
    ) -> None:
        self.options, self.runner, self.echo, self.confirm = options, runner, echo, confirm
        self.health_path, self.smoke = health_path, smoke
        self.result = DeployResult()
        self._done: list[str] = []

    def run(self) -> DeployResult:
        options = self.options
        if options.iap and options.project_number is None:
            raise DeployError(f"--iap needs the number of project {options.project} (gcloud projects describe)")
        self.echo(f"reading the current state of {options.service} in {options.project}/{options.region} ...")
        observed = observe(options, self.runner)
        refuse_planted_secrets(options, observed)
        unwanted = plan.unwanted_invokers(options, observed.policy)
        asked_about = [m for m in unwanted if m not in plan.retiring_iap_agents(options, observed)]
        if asked_about and not self.confirm(asked_about):
            raise DeployError(
                "refused: these members may invoke the service but were not named with --invoker: "
                + ", ".join(asked_about)
                + "; name them with --invoker, or confirm their removal (--yes). Nothing was changed."
            )
        unwanted_accessors = plan.unwanted_accessors(options, observed.iap_policy)
        if unwanted_accessors and not self.confirm(unwanted_accessors):
            raise DeployError(
                "refused: these members may pass IAP but were not named with --iap-member: "
                + ", ".join(unwanted_accessors)
                + "; name them with --iap-member, or confirm their removal (--yes). Nothing was changed."
            )
        for step in plan.steps(options, observed, self.health_path):
            if step.checks:
                break
            if step.number == plan.INVOKERS and self.result.changed:
                # gcloud run deploy may have changed the policy (it removes allUsers itself): plan this step anew.
                observed = replace(observed, policy=read_policy(options, self.runner))
                step = plan.step(plan.INVOKERS, options, observed, self.health_path)
                late = set(plan.unwanted_invokers(options, observed.policy)) - set(unwanted)
                if late:
                    raise self._failure(
                        step, f"new unnamed invokers appeared during the deploy: {', '.join(sorted(late))}"
                    )
            if step.number == plan.IAP_ACCESS and self.result.changed and options.iap:
                # The deploy may have just made the service (or turned IAP on): read who may pass IAP now.
                observed = replace(observed, iap_policy=read_iap_policy(options, self.runner))
                step = plan.step(plan.IAP_ACCESS, options, observed, self.health_path)
            self._run_step(step)
        if not self.result.changed:
            self.echo("no changes: the service already is what was asked")
        # With no command run, what was just observed is the result; otherwise read it again.
        self._read_back(None if self.result.changed else (observed.service, observed.policy, observed.iap_policy))
        if self.smoke and self.result.url:
            self._smoke_test(self.result.url)
        return self.result

    def _run_step(self, step: plan.Step) -> None:
        label = step.label
        if not step.commands:
            self.echo(f"{label}: up to date")
            return
        self.echo(f"{label}: {len(step.commands)} command(s)")
        for command in step.commands:
            self.echo(f"  $ {command.shell()}")
            try:
                self.runner.run(command)
            except GcloudError as exc:
                raise self._failure(step, str(exc), command) from exc
            self.result.ran.append(command)
        self._done.append(f"step {step.number} ({step.title})")

    def _read_back(self, observed: tuple[spec.Json | None, spec.Json, spec.Json] | None) -> None:
        label = plan.label(plan.READ_BACK)
        if observed is None:
            service = read_service(self.options, self.runner)
            policy = read_policy(self.options, self.runner) if service else {}
            iap_policy = read_iap_policy(self.options, self.runner) if service and self.options.iap else {}
        else:
            service, policy, iap_policy = observed
        project_policy = read_project_policy(self.options.project, self.runner) if service else None
        problems, notes = check_deployment(self.options, service, policy, project_policy, iap_policy)
        self.result.url = spec.url(service) if service else None
        self.result.notes = [note.line() for note in notes]
        if problems:
            details = "\n".join(problem.line() for problem in problems)
            done = "; ".join(self._done) or "nothing was changed by this run"
            raise DeployError(
                f"{label}: the deployed service is not what was asked:\n{details}\n  done by this run: {done}"
            )
        iap = f"; IAP on, may pass: {', '.join(self.options.iap_members) or '(nobody)'}" if self.options.iap else ""
        invokers = ", ".join(self.options.invoker_members) or "(none)"
        self.echo(f"{label}: private; invokers: {invokers}{iap}; URL {self.result.url}")

    def _smoke_test(self, url: str) -> None:
        label = plan.label(plan.SMOKE_TEST)
        # With IAP on, IAP answers first: an invoker's ID token for the URL does not pass it (only a token for IAP's
        # OAuth client or a browser sign-in does), so only the anonymous refusal is checked.
        token = None if self.options.iap else self._invoker_token(url)
        problems, checked = smoke_test(url, self.health_path, token)
        if problems:
            raise DeployError(f"{label}: " + "; ".join(problems))
        if self.options.iap:
            skipped = " (IAP on: IAP answers before the invoker check; anonymous only)"
        else:
            skipped = "" if token else " (the active gcloud account is not a named invoker: anonymous only)"
        self.echo(f"{label}: GET {self.health_path}: {', '.join(checked)}{skipped}")

    def _invoker_token(self, url: str) -> str | None:
        """The active gcloud account's ID token, if that account is a named invoker (else ``None``)."""
        try:  # a service account mints a token for the URL; a user login only for gcloud's client, which Run accepts
            token = self.runner.run(gcloud("auth", "print-identity-token", f"--audiences={url}")).strip()
        except GcloudError:
            try:
                token = self.runner.run(gcloud("auth", "print-identity-token")).strip()
            except GcloudError:
                return None
        email = _token_email(token)
        named = {member.split(":", 1)[1] for member in self.options.invokers}
        return token if email in named else None

    def _failure(self, step: plan.Step, reason: str, command: Command | None = None) -> DeployError:
        done = "; ".join(self._done) or "nothing (no earlier step changed anything)"
        ran = f"\n  command: {command.shell()}" if command else ""
        return DeployError(
            f"step {step.number}/{plan.TOTAL} ({step.title}) failed: {reason}{ran}\n  done by this run: {done}\n  {_RESUME}"
        )


def refuse_planted_secrets(options: DeployOptions, observed: plan.Observed) -> None:
    """Raise ``DeployError`` (nothing changed) when the service holds a literal secret the deploy never puts there.

    Redeploying would drop it from the new revision and hide that it leaked: it must be rotated by a person first.
    The message names the variable, the container and the kind, never the value.
    """
    found = planted_secrets(options, observed.service)
    if found:
        raise DeployError(
            "refused: the service holds a secret in plain text that cloudgate deploy did not put there (set by "
            "hand?); a new revision would hide it, not take it back:\n"
            + "\n".join(finding.line() for finding in found)
            + "\n  Nothing was changed. Rotate the secret, run the fix, then deploy again."
        )


def _token_email(token: str) -> str | None:
    """The ``email`` claim, read without verifying: only to know whether the token's holder is a named invoker."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) else None
